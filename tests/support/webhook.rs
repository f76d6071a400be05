//! A webhook endpoint for tests: records every request, fails on demand.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use tokio::time::timeout_at;

/// Requests held before the server makes senders wait (backpressure, never loss).
const CAPACITY: usize = 200_000;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query, e.g. `/hook?x=1`.
    pub path: String,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON; `Value::Null` when empty or not JSON (see `raw`).
    pub body: Value,
    pub raw: Bytes,
    pub at: Instant,
    /// The status this receiver answered with (200, or the `fail_next` status).
    pub status: u16,
}

impl Received {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `event` field of an imapapi webhook body, if any.
    pub fn event(&self) -> Option<&str> {
        self.body.get("event").and_then(Value::as_str)
    }
}

struct Shared {
    tx: mpsc::Sender<Received>,
    /// (requests still to fail, status to fail them with).
    failing: StdMutex<(u32, u16)>,
    count: AtomicU64,
    /// Requests answered with a failure status.
    failed: AtomicU64,
}

/// An HTTP server on 127.0.0.1 at a random port. Stops when dropped.
pub struct WebhookReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    rx: Mutex<(mpsc::Receiver<Received>, VecDeque<Received>)>,
    server: JoinHandle<()>,
}

impl WebhookReceiver {
    /// Must be called inside a Tokio runtime (the server runs as a task of it).
    pub async fn start() -> WebhookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind webhook receiver");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = mpsc::channel(CAPACITY);
        let shared = Arc::new(Shared {
            tx,
            failing: StdMutex::new((0, 500)),
            count: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });
        let server_shared = shared.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    // e.g. out of file descriptors: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let shared = server_shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(shared.clone(), req));
                    // Errors here are the client hanging up; nothing to record.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        WebhookReceiver {
            addr,
            shared,
            rx: Mutex::new((rx, VecDeque::new())),
            server,
        }
    }

    /// The URL to configure as the webhook target (`http://127.0.0.1:PORT/webhook`).
    pub fn url(&self) -> String {
        format!("http://{}/webhook", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers the next `n` requests with `status` (e.g. 500 or 503) instead of 200.
    /// They are still recorded.
    pub fn fail_next(&self, n: u32, status: u16) {
        *self
            .shared
            .failing
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = (n, status);
    }

    /// Requests answered with a failure status so far.
    pub fn failed(&self) -> u64 {
        self.shared.failed.load(Ordering::SeqCst)
    }

    /// Total requests received so far (including failed ones and ones already taken).
    pub fn count(&self) -> u64 {
        self.shared.count.load(Ordering::SeqCst)
    }

    /// The next recorded request in arrival order, or `None` if none arrives in time.
    pub async fn next_within(&self, within: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + within;
        let mut guard = self.rx.lock().await;
        let (rx, pending) = &mut *guard;
        if let Some(r) = pending.pop_front() {
            return Some(r);
        }
        timeout_at(deadline, rx.recv()).await.ok().flatten()
    }

    /// The first request (in arrival order) matching `pred`, waiting up to `within`.
    /// Requests that do not match are kept, in order, for later `next_within`/`wait_for`.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&Received) -> bool,
        within: Duration,
    ) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + within;
        let mut guard = self.rx.lock().await;
        let (rx, pending) = &mut *guard;
        if let Some(i) = pending.iter().position(&pred) {
            return pending.remove(i);
        }
        loop {
            let r = timeout_at(deadline, rx.recv()).await.ok().flatten()?;
            if pred(&r) {
                return Some(r);
            }
            pending.push_back(r);
        }
    }

    /// Waits for the first request whose body has `"event": event`.
    pub async fn wait_for_event(&self, event: &str, within: Duration) -> Option<Received> {
        self.wait_for(|r| r.event() == Some(event), within).await
    }

    /// Everything received and not yet taken, without waiting.
    pub async fn drain(&self) -> Vec<Received> {
        let mut guard = self.rx.lock().await;
        let (rx, pending) = &mut *guard;
        let mut all: Vec<Received> = pending.drain(..).collect();
        while let Ok(r) = rx.try_recv() {
            all.push(r);
        }
        all
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into(),
            )
        })
        .collect();
    let raw = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let at = Instant::now();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let status = {
        let mut failing = shared.failing.lock().unwrap_or_else(|e| e.into_inner());
        if failing.0 > 0 {
            failing.0 -= 1;
            shared.failed.fetch_add(1, Ordering::SeqCst);
            failing.1
        } else {
            200
        }
    };
    shared.count.fetch_add(1, Ordering::SeqCst);
    let received = Received {
        method,
        path,
        headers,
        body,
        raw,
        at,
        status,
    };
    // Err only when the receiver is dropped, i.e. the test is over.
    let _ = shared.tx.send(received).await;
    let mut resp = Response::new(Full::new(Bytes::from_static(b"{\"success\":true}")));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Ok(resp)
}
