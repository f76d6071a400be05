//! An operator's auth server for tests (`settings.authServer`): answers
//! `GET ?account=ID&proto=imap|smtp` with whatever the test set, and records the queries.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the server answers.
#[derive(Debug, Clone)]
pub enum AuthReply {
    /// 200 with this JSON, the same for every account and proto.
    Json(Value),
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with a JSON body of this many bytes.
    Huge(usize),
    /// This status, empty body.
    Status(u16),
}

struct Shared {
    reply: Mutex<AuthReply>,
    queries: Mutex<Vec<String>>,
}

/// The server, on 127.0.0.1 at a random port; stops when dropped.
pub struct AuthServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl AuthServer {
    pub async fn start(reply: AuthReply) -> AuthServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            reply: Mutex::new(reply),
            queries: Mutex::new(Vec::new()),
        });
        let served = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = served.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(shared.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        AuthServer { addr, shared, task }
    }

    /// The `authServer` setting.
    pub fn url(&self) -> String {
        format!("http://{}/auth", self.addr)
    }

    pub fn set(&self, reply: AuthReply) {
        *self.shared.reply.lock().unwrap() = reply;
    }

    /// The query strings asked so far.
    pub fn queries(&self) -> Vec<String> {
        self.shared.queries.lock().unwrap().clone()
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    shared
        .queries
        .lock()
        .unwrap()
        .push(req.uri().query().unwrap_or_default().to_string());
    let reply = shared.reply.lock().unwrap().clone();
    let (status, body) = match reply {
        AuthReply::Json(v) => (200, serde_json::to_vec(&v).unwrap()),
        AuthReply::Garbage => (200, b"<html>not json</html>".to_vec()),
        AuthReply::Huge(n) => {
            let mut body = b"{\"user\":\"".to_vec();
            body.resize(n, b'x');
            body.extend_from_slice(b"\"}");
            (200, body)
        }
        AuthReply::Status(s) => (s, Vec::new()),
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap())
}
