//! Raw bytes of a message (its source) or of one MIME part (an attachment), read in ranges.
//!
//! Large bodies never travel in one piece: api asks for one range at a time and writes it
//! to the HTTP response before asking for the next, so neither api nor ingest holds more
//! than a range or two of a 50 MB attachment, in one process or across a broker, and the
//! IMAP server does the slicing (`BODY.PEEK[part]<offset.length>`).

use serde::{Deserialize, Serialize};

use super::WireBytes;

/// Read `length` bytes from `offset` of the message source (`part: None`) or of one part,
/// still in its transfer encoding (api decodes base64 and quoted-printable as it streams).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadBody {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    pub offset: u64,
    pub length: u32,
}

/// What the first range of a part also tells: how to decode and present it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartInfo {
    /// `type/subtype`, lower case.
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// `Content-Transfer-Encoding`, lower case (`base64`, `quoted-printable`, `7bit`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// `inline` or `attachment`, when the part says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    /// Size of the part (or message) as stored, before decoding.
    pub size: u64,
}

/// One range. `info` comes with the range at offset 0; `eof` says nothing follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyChunk {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<PartInfo>,
    pub data: WireBytes,
    pub eof: bool,
}
