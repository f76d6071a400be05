//! Tests of the attachment and message source downloads: ids are checked first, bodies are
//! read from the owning ingest in ranges and decoded across range boundaries, a failing
//! range is a JSON error or a cut transfer, and reading stops when the client does.

mod support;

use std::pin::Pin;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use imapapi_api::routes::body_stream::RANGE_LENGTH;
use imapapi_common::command::*;
use imapapi_common::error::ApiError;
use imapapi_common::ids::{AttachmentId, MessageId};
use support::{Answer, Harness, MESSAGE, assert_error, message_path, ok, owned, unexpected};
use warp::Reply as _;
use warp::reply::Response;

#[tokio::test]
async fn download_ids_are_checked_first() {
    let (h, ingest) = owned(unexpected()).await;
    for bad in [MESSAGE, "AAAAAQAAAeE", "AAAAAQAAAeFhLWI", "!!"] {
        let (status, body) = h
            .call(
                "GET",
                &format!("/v1/account/example/attachment/{bad}"),
                None,
            )
            .await;
        assert_error(status, &body, 400, "\"attachment\"");
    }
    let (status, body) = h
        .call("GET", "/v1/account/example/message/AAAA/source", None)
        .await;
    assert_error(status, &body, 400, "\"message\"");
    let (status, body) = h.call("GET", &message_path("/source?x=1"), None).await;
    assert_error(status, &body, 400, "\"x\"");
    assert!(ingest.seen().is_empty());
}

/// A body served in ranges by the fake ingest: at most `length` bytes from `offset`,
/// further capped by `max_range` to cut it at awkward places.
fn serve_body(encoded: Vec<u8>, info: PartInfo, max_range: fn(u64) -> usize) -> Answer {
    Box::new(move |c| {
        let CommandKind::ReadBody(r) = c else {
            return error_reply(ApiError::internal("unexpected"));
        };
        let start = (r.offset as usize).min(encoded.len());
        let len = (r.length as usize).min(max_range(r.offset));
        let end = (start + len).min(encoded.len());
        ok(BodyChunk {
            info: (r.offset == 0).then(|| info.clone()),
            data: WireBytes(encoded[start..end].to_vec()),
            eof: end == encoded.len(),
        })
    })
}

/// Deterministic bytes that are not a repeating pattern.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

/// Base64 in 76-character lines, as MIME writes it.
fn mime_base64(data: &[u8]) -> Vec<u8> {
    let encoded = STANDARD.encode(data);
    let mut out = Vec::new();
    for line in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn attachment_uri(part: &str) -> String {
    let id = AttachmentId {
        message: MessageId::new(1, 481),
        part: part.into(),
    };
    format!("/v1/account/example/attachment/{}", id.encode())
}

fn header<'a>(res: &'a warp::http::Response<Bytes>, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn attachment_is_decoded_across_1_mib_ranges() {
    // 1 MiB ranges of 78-byte lines end mid-line and mid-quantum.
    let data = noise(2_600_000);
    let encoded = mime_base64(&data);
    let info = PartInfo {
        content_type: "application/pdf".into(),
        filename: Some("Résumé 2024.pdf".into()),
        encoding: Some("base64".into()),
        disposition: Some("attachment".into()),
        size: encoded.len() as u64,
        ..Default::default()
    };
    let (h, ingest) = owned(serve_body(encoded.clone(), info, |_| usize::MAX)).await;
    let res = warp::test::request()
        .path(&attachment_uri("2"))
        .reply(&imapapi_api::routes(h.services.clone()))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), Some("application/pdf"));
    assert_eq!(
        header(&res, "content-disposition"),
        Some(
            "attachment; filename=\"R_sum_ 2024.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%202024.pdf"
        )
    );
    assert_eq!(header(&res, "content-length"), None);
    assert!(res.body()[..] == data[..], "decoded body differs");

    let reads = ingest.reads();
    let ranges = encoded.len().div_ceil(RANGE_LENGTH as usize);
    assert_eq!(reads.len(), ranges);
    for (i, r) in reads.iter().enumerate() {
        assert_eq!(r.message, MESSAGE);
        assert_eq!(r.part.as_deref(), Some("2"));
        assert_eq!(r.offset, i as u64 * RANGE_LENGTH as u64);
        assert_eq!(r.length, RANGE_LENGTH);
    }
}

#[tokio::test]
async fn quoted_printable_is_decoded_across_tiny_ranges() {
    let encoded = b"caf=C3=A9 au lait=\r\n, s'il vous pla=\r\n=C3=AEt  \r\n=3D=\r\nend".to_vec();
    let info = PartInfo {
        content_type: "text/plain".into(),
        charset: Some("utf-8".into()),
        filename: Some("notes.txt".into()),
        encoding: Some("quoted-printable".into()),
        size: encoded.len() as u64,
        ..Default::default()
    };
    // Ranges of 1, 2 and 3 bytes cut through every escape and soft break.
    let (h, ingest) = owned(serve_body(encoded.clone(), info, |o| 1 + o as usize % 3)).await;
    let res = warp::test::request()
        .path(&attachment_uri("1.2"))
        .reply(&imapapi_api::routes(h.services.clone()))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        std::str::from_utf8(res.body()).unwrap(),
        "café au lait, s'il vous plaît\r\n=end"
    );
    assert_eq!(
        header(&res, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        header(&res, "content-disposition"),
        Some("attachment; filename=\"notes.txt\"")
    );
    let reads = ingest.reads();
    assert!(reads.len() > 20);
    let mut offset = 0;
    for r in &reads {
        assert_eq!(r.offset, offset, "ranges follow each other");
        offset += 1 + offset % 3;
    }
}

#[tokio::test]
async fn a_small_attachment_has_its_length() {
    let info = PartInfo {
        content_type: "image/png".into(),
        encoding: Some("base64".into()),
        size: 8,
        ..Default::default()
    };
    let (h, _ingest) = owned(serve_body(b"iVBORw==".to_vec(), info, |_| usize::MAX)).await;
    let res = warp::test::request()
        .path(&attachment_uri("2"))
        .reply(&imapapi_api::routes(h.services.clone()))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(&res.body()[..], b"\x89PNG");
    assert_eq!(header(&res, "content-length"), Some("4"));
    assert_eq!(header(&res, "content-disposition"), Some("attachment"));
    assert_eq!(header(&res, "x-content-type-options"), Some("nosniff"));
}

#[tokio::test]
async fn source_streams_the_raw_message() {
    let source = b"From: a@example.com\r\nSubject: hi\r\n\r\nSGVsbG8=\r\n=41\r\n".to_vec();
    let info = PartInfo {
        content_type: "message/rfc822".into(),
        // The source is never decoded, whatever a part's encoding.
        encoding: Some("base64".into()),
        size: source.len() as u64,
        ..Default::default()
    };
    let (h, ingest) = owned(serve_body(source.clone(), info, |_| 7)).await;
    let res = warp::test::request()
        .path(&message_path("/source"))
        .reply(&imapapi_api::routes(h.services.clone()))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(&res.body()[..], &source[..]);
    assert_eq!(header(&res, "content-type"), Some("message/rfc822"));
    let reads = ingest.reads();
    assert_eq!(reads.len(), source.len().div_ceil(7));
    assert!(
        reads
            .iter()
            .all(|r| r.part.is_none() && r.message == MESSAGE)
    );
    assert_eq!(reads[1].offset, 7);
}

#[tokio::test]
async fn a_failing_first_range_is_a_json_error() {
    let (h, _ingest) = owned(Box::new(|_| {
        error_reply(ApiError::not_found("Message was not found"))
    }))
    .await;
    let (status, body) = h.call("GET", &attachment_uri("2"), None).await;
    assert_error(status, &body, 404, "Message was not found");
    let (status, body) = h.call("GET", &message_path("/source"), None).await;
    assert_error(status, &body, 404, "Message was not found");
}

/// The response of the routes to a GET of `uri`, with its body not read yet.
async fn open(h: &Harness, uri: &str) -> Response {
    warp::test::request()
        .path(uri)
        .filter(&imapapi_api::routes(h.services.clone()))
        .await
        .unwrap_or_else(|e| match e {})
        .into_response()
}

/// The next frame of a response body: `None` at its end, `Some(Err)` when it broke off.
async fn next_frame(res: &mut Response) -> Option<Result<Bytes, warp::Error>> {
    use warp::hyper::body::Body as _;
    let body = res.body_mut();
    let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await?;
    Some(frame.map(|f| f.into_data().unwrap_or_default()))
}

#[tokio::test]
async fn a_failing_later_range_cuts_the_transfer_short() {
    let data = noise(3000);
    let encoded = mime_base64(&data);
    let chunk = encoded.clone();
    let (h, _ingest) = owned(Box::new(move |c| {
        let CommandKind::ReadBody(r) = c else {
            return error_reply(ApiError::internal("unexpected"));
        };
        if r.offset > 0 {
            return error_reply(ApiError::imap("Connection lost"));
        }
        ok(BodyChunk {
            info: Some(PartInfo {
                content_type: "application/octet-stream".into(),
                encoding: Some("base64".into()),
                ..Default::default()
            }),
            data: WireBytes(chunk[..1000].to_vec()),
            eof: false,
        })
    }))
    .await;
    let mut res = open(&h, &attachment_uri("2")).await;
    assert_eq!(res.status(), 200);
    let mut got = Vec::new();
    let outcome = loop {
        match next_frame(&mut res).await {
            Some(Ok(bytes)) => got.extend_from_slice(&bytes),
            other => break other,
        }
    };
    assert!(
        matches!(outcome, Some(Err(_))),
        "the body must end in an error"
    );
    let mut want = Vec::new();
    imapapi_api::transfer_decoding::TransferDecoder::for_encoding(Some("base64"))
        .decode(&encoded[..1000], &mut want);
    assert_eq!(got, want);
}

#[tokio::test]
async fn downloads_read_ahead_at_most_one_range() {
    let encoded = noise(5 * RANGE_LENGTH as usize + 10);
    let info = PartInfo {
        content_type: "application/octet-stream".into(),
        size: encoded.len() as u64,
        ..Default::default()
    };
    let (h, ingest) = owned(serve_body(encoded.clone(), info, |_| usize::MAX)).await;
    let mut res = open(&h, &attachment_uri("2")).await;
    assert_eq!(res.status(), 200);
    // Nobody reads the body: the first range waits in the channel and the producer holds
    // the second, and asks for nothing more.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while ingest.reads().len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ingest.reads().len(), 2);
    let mut got = Vec::new();
    while let Some(frame) = next_frame(&mut res).await {
        got.extend_from_slice(&frame.unwrap());
    }
    assert!(got == encoded, "body differs");
    assert_eq!(ingest.reads().len(), 6);
}

#[tokio::test]
async fn a_download_stops_when_the_client_goes_away() {
    let encoded = noise(5 * RANGE_LENGTH as usize);
    let info = PartInfo {
        content_type: "application/octet-stream".into(),
        size: encoded.len() as u64,
        ..Default::default()
    };
    let (h, ingest) = owned(serve_body(encoded, info, |_| usize::MAX)).await;
    let mut res = open(&h, &attachment_uri("2")).await;
    assert!(next_frame(&mut res).await.unwrap().is_ok());
    drop(res);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reads = ingest.reads().len();
    assert!(reads <= 3, "{reads} ranges read for a client that left");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(ingest.reads().len(), reads);
}

/// GET `uri` over a real connection to the served api; the raw response bytes.
async fn get_over_tcp(h: &Harness, uri: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(imapapi_api::serve_on(
        h.services.clone(),
        listener,
        shutdown.clone(),
    ));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {uri} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("the response did not end")
        .ok();
    shutdown.cancel();
    let _ = server.await;
    out
}

#[tokio::test]
async fn over_http_a_cut_transfer_lacks_the_last_chunk() {
    let encoded = noise(RANGE_LENGTH as usize + 100);
    let info = PartInfo {
        content_type: "application/octet-stream".into(),
        ..Default::default()
    };
    let whole = serve_body(encoded, info, |_| usize::MAX);
    let (h, _ingest) = owned(Box::new(move |c| match c {
        CommandKind::ReadBody(r) if r.offset > 0 => error_reply(ApiError::imap("Connection lost")),
        c => whole(c),
    }))
    .await;
    let out = get_over_tcp(&h, &attachment_uri("2")).await;
    let head = String::from_utf8_lossy(&out[..200]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(out.len() > RANGE_LENGTH as usize);
    assert!(
        !out.ends_with(b"0\r\n\r\n"),
        "a cut transfer must not look complete"
    );
}

#[tokio::test]
async fn over_http_a_whole_transfer_ends_properly() {
    let encoded = noise(RANGE_LENGTH as usize + 100);
    let info = PartInfo {
        content_type: "application/octet-stream".into(),
        ..Default::default()
    };
    let (h, _ingest) = owned(serve_body(encoded, info, |_| usize::MAX)).await;
    let out = get_over_tcp(&h, &attachment_uri("2")).await;
    assert!(out.starts_with(b"HTTP/1.1 200"));
    assert!(out.ends_with(b"\r\n0\r\n\r\n"));
}
