//! Streams a message source or one MIME part to the HTTP client with bounded memory.
//!
//! Ingest serves bodies in ranges (`ReadBody`); a producer task reads range N+1 while range
//! N is written to the client, through a channel of one slot, so at most a range in the
//! channel, one being written and one just read are in memory, however large the body and
//! however slow the client. Only the first range is read before answering: its failure is
//! still a normal JSON error, while a later failure can only cut the transfer short.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use imapapi_common::Services;
use imapapi_common::command::{BodyChunk, PartInfo, ReadBody};
use imapapi_common::error::ApiError;
use tokio::sync::mpsc;
use warp::Reply;
use warp::http::HeaderValue;
use warp::http::header::CONTENT_LENGTH;
use warp::reply::Response;

use crate::transfer_decoding::TransferDecoder;
use imapapi_common::command::client::send;

/// Bytes asked for per range.
pub const RANGE_LENGTH: u32 = 1 << 20;

/// Ranges read but not yet taken by the response writer: the read-ahead.
const READ_AHEAD: usize = 1;

/// Whether the bytes go out decoded from their `Content-Transfer-Encoding` (attachments)
/// or exactly as stored (message source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoding {
    Transfer,
    Raw,
}

/// What to read: the whole message (`part: None`) or one part of it.
#[derive(Debug, Clone)]
pub struct BodyTarget {
    pub account: String,
    pub message: String,
    pub part: Option<String>,
}

impl BodyTarget {
    fn range(&self, offset: u64) -> ReadBody {
        ReadBody {
            message: self.message.clone(),
            part: self.part.clone(),
            offset,
            length: RANGE_LENGTH,
        }
    }
}

/// Read the first range and answer with a 200 whose body streams the rest; the caller adds
/// the headers from the returned `PartInfo`. A body that fits in one range goes out whole,
/// with its exact `Content-Length`; a streamed one has none, since its decoded size is not
/// known until its end.
pub async fn open(
    services: &Services,
    target: BodyTarget,
    decoding: Decoding,
) -> Result<(PartInfo, Response), ApiError> {
    let first = checked(send(services, &target.account, target.range(0)).await)?;
    let BodyChunk { info, data, eof } = first;
    let info = info.unwrap_or_else(|| {
        tracing::warn!(account = %target.account, message = %target.message, "first body range came without part info");
        PartInfo::default()
    });
    let mut decoder = match decoding {
        Decoding::Transfer => TransferDecoder::for_encoding(info.encoding.as_deref()),
        Decoding::Raw => TransferDecoder::Identity,
    };
    let mut out = Vec::new();
    decoder.decode(&data.0, &mut out);
    if eof {
        decoder.finish(&mut out);
        let length = HeaderValue::from(out.len());
        let mut response = warp::http::Response::new(Bytes::from(out)).into_response();
        response.headers_mut().insert(CONTENT_LENGTH, length);
        return Ok((info, response));
    }
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    if !out.is_empty() {
        // The channel is new and has a free slot, so this cannot fail.
        let _ = tx.try_send(Ok(Piece::Data(Bytes::from(out))));
    }
    let offset = data.0.len() as u64;
    tokio::spawn(produce(services.clone(), target, offset, decoder, tx));
    let body = PieceStream { rx, ended: false };
    Ok((info, warp::reply::stream(body).into_response()))
}

/// One item of the channel between the producer and the response body.
enum Piece {
    Data(Bytes),
    /// The whole body was sent: only this ends the response cleanly.
    End,
}

type Sender = mpsc::Sender<Result<Piece, io::Error>>;

/// Read ranges from `offset` on, decode them and hand them to the response body until the
/// last one, a failure, or the client going away.
async fn produce(
    services: Services,
    target: BodyTarget,
    mut offset: u64,
    mut decoder: TransferDecoder,
    tx: Sender,
) {
    loop {
        let chunk = tokio::select! {
            chunk = send(&services, &target.account, target.range(offset)) => chunk,
            // The client is gone: the range would be read for nobody.
            _ = tx.closed() => return,
        };
        let chunk = match checked(chunk) {
            Ok(chunk) => chunk,
            Err(e) => {
                tracing::warn!(
                    account = %target.account,
                    message = %target.message,
                    offset,
                    code = %e.code,
                    error = %e.message,
                    "body stream cut short"
                );
                let _ = tx.send(Err(io::Error::other(e.message))).await;
                return;
            }
        };
        offset += chunk.data.0.len() as u64;
        let mut out = Vec::new();
        decoder.decode(&chunk.data.0, &mut out);
        if chunk.eof {
            decoder.finish(&mut out);
        }
        if !out.is_empty() && tx.send(Ok(Piece::Data(Bytes::from(out)))).await.is_err() {
            return;
        }
        if chunk.eof {
            let _ = tx.send(Ok(Piece::End)).await;
            return;
        }
    }
}

/// A range that moves the body on: an empty range before the end would ask for the same
/// offset forever.
fn checked(chunk: Result<BodyChunk, ApiError>) -> Result<BodyChunk, ApiError> {
    let chunk = chunk?;
    if chunk.data.0.is_empty() && !chunk.eof {
        return Err(ApiError::imap(
            "The IMAP server returned no data for the requested range",
        ));
    }
    Ok(chunk)
}

/// The response body: the producer's pieces, in order. The channel closing without
/// [`Piece::End`] (the producer failed or panicked) is an error too, so hyper aborts the
/// transfer instead of ending it as if it were complete.
struct PieceStream {
    rx: mpsc::Receiver<Result<Piece, io::Error>>,
    ended: bool,
}

impl Stream for PieceStream {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let item = match self.rx.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item,
        };
        Poll::Ready(match item {
            Some(Ok(Piece::Data(bytes))) => Some(Ok(bytes)),
            Some(Ok(Piece::End)) => {
                self.ended = true;
                None
            }
            Some(Err(e)) => {
                self.ended = true;
                Some(Err(e))
            }
            None => {
                self.ended = true;
                Some(Err(io::Error::other("body stream stopped before its end")))
            }
        })
    }
}
