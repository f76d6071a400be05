//! Publishing a caller's whole batch: its messages cut into `SendMessageBatch` calls (ten
//! entries and 256 KiB at most each), a few calls in flight at once. SQS may refuse single
//! entries of a call it otherwise accepts; those are sent again, and still refused after a
//! few attempts they make the whole publish an error, so no message of the batch is ever
//! dropped without the caller knowing.

use std::time::{Duration, SystemTime};

use aws_sdk_sqs::Client;
use futures::{StreamExt, TryStreamExt};

use super::batch::{MAX_BATCH_BYTES, MAX_ENTRIES};
use super::link::{Inner, send_entries};
use super::wire::Outgoing;
use crate::bus::{BusError, Message};

/// Calls of one batch in flight at once.
const IN_FLIGHT: usize = 8;
/// Sends of an entry before its refusal is the batch's error.
const ATTEMPTS: u32 = 3;
/// Pause before sending refused entries again, times the attempt.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Sends every one of `messages` to the queue at `url`.
pub(super) async fn publish_batch(
    inner: &Inner,
    url: &str,
    messages: &[Message],
) -> Result<(), BusError> {
    let now = SystemTime::now();
    let mut outgoing = Vec::with_capacity(messages.len());
    for message in messages {
        let body = inner.wire_body(message, None).await?;
        outgoing.push(Outgoing::new(message, body, now));
    }
    futures::stream::iter(calls(outgoing))
        .map(|call| send_until_accepted(&inner.client, url, call))
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await
}

/// `outgoing` cut into calls in order, each within SQS's caps on entries and bytes.
fn calls(outgoing: Vec<Outgoing>) -> Vec<Vec<Outgoing>> {
    let mut calls: Vec<Vec<Outgoing>> = Vec::new();
    let mut weight = 0;
    for out in outgoing {
        let w = out.weight();
        match calls.last_mut() {
            Some(call) if call.len() < MAX_ENTRIES && weight + w <= MAX_BATCH_BYTES => {
                weight += w;
                call.push(out);
            }
            _ => {
                weight = w;
                calls.push(vec![out]);
            }
        }
    }
    calls
}

/// One call, with its refused entries sent again up to [`ATTEMPTS`] times in all.
async fn send_until_accepted(
    client: &Client,
    url: &str,
    mut pending: Vec<Outgoing>,
) -> Result<(), BusError> {
    for attempt in 1..=ATTEMPTS {
        let outcomes = send_entries(client, url, pending.clone()).await;
        let mut refused = Vec::new();
        let mut why = None;
        for (out, outcome) in pending.into_iter().zip(outcomes) {
            if let Err(e) = outcome {
                why.get_or_insert(e);
                refused.push(out);
            }
        }
        let Some(why) = why else { return Ok(()) };
        if attempt == ATTEMPTS {
            return Err(BusError::Backend(format!(
                "{} of a batch not accepted after {ATTEMPTS} attempts: {why}",
                refused.len()
            )));
        }
        tracing::debug!(refused = refused.len(), attempt, error = %why, "SQS batch entries refused; sending them again");
        tokio::time::sleep(RETRY_PAUSE * attempt).await;
        pending = refused;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    use super::super::wire::WireBody;
    use super::*;

    /// The bodies of each `SendMessageBatch` call a scripted endpoint received.
    type Calls = Arc<Mutex<Vec<Vec<String>>>>;

    /// An SQS endpoint on 127.0.0.1 answering every `SendMessageBatch` with the entries
    /// whose body `refuse` picks listed as failed (not the sender's fault), the rest sent.
    async fn scripted_sqs(refuse: fn(&str, usize) -> bool) -> (String, Calls) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let calls: Calls = Arc::default();
        let seen = calls.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, seen.clone(), refuse));
            }
        });
        (endpoint, calls)
    }

    /// Answers the requests of one connection (HTTP/1.1, kept alive).
    async fn serve(stream: tokio::net::TcpStream, calls: Calls, refuse: fn(&str, usize) -> bool) {
        let mut stream = BufReader::new(stream);
        loop {
            let mut length = 0;
            loop {
                let mut line = String::new();
                if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            stream.read_exact(&mut body).await.unwrap();
            let request: Value = serde_json::from_slice(&body).unwrap();
            let call = calls.lock().unwrap().len();
            let (mut sent, mut failed, mut bodies) = (Vec::new(), Vec::new(), Vec::new());
            for entry in request["Entries"].as_array().unwrap() {
                let (id, text) = (&entry["Id"], entry["MessageBody"].as_str().unwrap());
                bodies.push(text.to_string());
                if refuse(text, call) {
                    failed.push(json!({"Id": id, "SenderFault": false, "Code": "InternalError"}));
                } else {
                    sent.push(json!({"Id": id, "MessageId": "m", "MD5OfMessageBody": "0"}));
                }
            }
            calls.lock().unwrap().push(bodies);
            let answer = json!({"Successful": sent, "Failed": failed}).to_string();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n",
                answer.len()
            );
            let out = stream.get_mut();
            if out.write_all(head.as_bytes()).await.is_err()
                || out.write_all(answer.as_bytes()).await.is_err()
            {
                return;
            }
        }
    }

    fn named(names: &[&str]) -> Vec<Outgoing> {
        names
            .iter()
            .map(|n| {
                let m = Message::new("k", n.as_bytes().to_vec());
                Outgoing::new(&m, WireBody::inline(&m.body), SystemTime::now())
            })
            .collect()
    }

    #[tokio::test]
    async fn refused_entries_are_sent_again_until_accepted() {
        // The first call refuses b and d; later calls take everything.
        let (endpoint, calls) = scripted_sqs(|body, call| call == 0 && "bd".contains(body)).await;
        let client = crate::bus::sqs::local_client(&endpoint);
        let url = format!("{endpoint}/000000000000/q");
        send_until_accepted(&client, &url, named(&["a", "b", "c", "d"]))
            .await
            .unwrap();
        let calls = calls.lock().unwrap();
        assert_eq!(*calls, vec![vec!["a", "b", "c", "d"], vec!["b", "d"]]);
    }

    #[tokio::test]
    async fn entries_refused_every_time_make_the_publish_an_error() {
        let (endpoint, calls) = scripted_sqs(|body, _| body == "c").await;
        let client = crate::bus::sqs::local_client(&endpoint);
        let url = format!("{endpoint}/000000000000/q");
        let err = send_until_accepted(&client, &url, named(&["a", "b", "c"]))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("1 of a batch not accepted"),
            "{err}"
        );
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), ATTEMPTS as usize);
        assert!(calls[1..].iter().all(|c| c == &["c"]), "{calls:?}");
    }

    fn out(body_len: usize) -> Outgoing {
        let m = Message::new("k", vec![b'x'; body_len]);
        Outgoing::new(&m, WireBody::inline(&m.body), SystemTime::now())
    }

    #[test]
    fn calls_keep_order_within_the_caps() {
        let sizes: Vec<usize> = calls((0..25).map(|_| out(10)).collect())
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [10, 10, 5]);

        let big = 100 * 1024;
        let cut = calls((0..5).map(|_| out(big)).collect());
        assert!(
            cut.iter()
                .all(|c| c.iter().map(Outgoing::weight).sum::<usize>() <= MAX_BATCH_BYTES)
        );
        assert_eq!(cut.iter().map(Vec::len).sum::<usize>(), 5);
        assert_eq!(cut.len(), 3, "two of 100 KiB per call");
        assert!(calls(Vec::new()).is_empty());
    }
}
