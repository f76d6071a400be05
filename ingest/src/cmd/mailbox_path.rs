//! Turning the API's path segments (`["Parent", "Süßes"]`) into one folder path on the
//! wire: each segment in modified UTF-7, joined with the server's hierarchy delimiter.

use imapapi_common::error::ApiError;

use super::{CommandCx, CommandError};

/// The wire path of `segments`; a segment that is empty or holds the delimiter is refused
/// with 400 naming `field[i]`.
pub async fn join(
    cx: &mut CommandCx<'_>,
    segments: &[String],
    field: &str,
) -> Result<String, CommandError> {
    let delimiter = cx.imap.delimiter().await?;
    let mut wire = Vec::with_capacity(segments.len());
    for (i, s) in segments.iter().enumerate() {
        if s.is_empty() || delimiter.as_deref().is_some_and(|d| s.contains(d)) {
            return Err(ApiError::invalid(
                &format!("{field}[{i}]"),
                "must be a non-empty name without the hierarchy delimiter",
            )
            .into());
        }
        wire.push(crate::utf7::to_wire(s));
    }
    Ok(wire.join(delimiter.as_deref().unwrap_or("/")))
}
