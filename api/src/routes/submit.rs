//! `POST /v1/account/:account/submit`: build a message and queue it for sending. The answer
//! comes as soon as the job is durably queued (`{messageId, queueId}`); the submit role
//! sends it, stores the Sent copy and flags the original, and reports with events
//! (`messageSent`, `messageDeliveryError`, `messageFailed`).

use std::collections::BTreeMap;
use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};
use imapapi_common::Services;
use imapapi_common::bus::{Message, QueueName};
use imapapi_common::compose::{AttachmentDraft, MessageDraft, MessageReference, ReferenceAction};
use imapapi_common::error::ApiError;
use imapapi_common::ids::MessageId;
use imapapi_common::model::{
    Address, Envelope, OutboxEntry, OutboxState, SentReference, SubmitJob,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::answering::{answering, attach_original, off_the_runtime, quote_original};
use crate::error::{json_ok, respond, store_error};
use crate::openapi::{CommandErrors, tags};
use crate::routes::{Route, account_id, with};

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::post("/v1/account/{account}/submit")];

/// The request header that makes a repeated submit answer like the first one.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// How long an idempotency key is remembered.
const IDEMPOTENCY_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// Longest idempotency key accepted.
const MAX_KEY: usize = 256;

/// How far ahead `sendAt` may be.
const MAX_SCHEDULE: chrono::Duration = chrono::Duration::days(366);

/// The submit route.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    let max_size = services.config.api.max_size;
    warp::path!("v1" / "account" / String / "submit")
        .and(warp::post())
        .and(with(services))
        .and(warp::header::optional::<String>(IDEMPOTENCY_HEADER))
        .and(crate::body::json::<SubmitBody>(max_size))
        .then(
            |id: String, s: Services, key: Option<String>, body: SubmitBody| async move {
                respond(submit(s, id, key, body).await)
            },
        )
        .boxed()
}

/// The contract's `SubmitMessage`, plus `replyTo` and `sendAt`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubmitBody {
    /// The message this one replies to or forwards: it gives `In-Reply-To`, `References`
    /// and, without a `subject`, the subject (`Re: `, `Fwd: `); a forward carries it whole
    /// as an attached message (`message/rfc822`), or with `inline: true` quotes its text
    /// below the new text. It is flagged `\Answered` (reply) or
    /// `$Forwarded` (forward) once the message is sent. 404 at once when it is gone.
    #[serde(default)]
    pub reference: Option<MessageReference>,
    pub from: Address,
    #[serde(default)]
    pub to: Vec<Address>,
    #[serde(default)]
    pub cc: Vec<Address>,
    /// Recipients left out of the headers.
    #[serde(default)]
    pub bcc: Vec<Address>,
    #[serde(default)]
    pub reply_to: Option<Address>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentDraft>,
    /// `<id@domain>`; one is generated when absent.
    #[serde(default)]
    pub message_id: Option<String>,
    /// Extra header fields, name → value.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Send no earlier than this time (RFC 3339), at most a year ahead.
    #[serde(default)]
    pub send_at: Option<String>,
}

/// The answer: the message is queued.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubmitResponse {
    /// The `Message-ID` header of the message that will be sent.
    pub message_id: String,
    /// The job's id in the outbox (`GET /v1/outbox/{queueId}`).
    pub queue_id: String,
    /// When it will be sent, if scheduled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at: Option<String>,
}

impl SubmitBody {
    fn into_parts(self) -> (Option<MessageReference>, Option<String>, MessageDraft) {
        let draft = MessageDraft {
            to: self.to,
            cc: self.cc,
            bcc: self.bcc,
            reply_to: self.reply_to,
            subject: self.subject,
            text: self.text,
            html: self.html,
            attachments: self.attachments,
            message_id: self.message_id,
            headers: self.headers,
            ..MessageDraft::new(self.from)
        };
        (self.reference, self.send_at, draft)
    }
}

/// `sendAt` as a time, or `None` for now (a time already past sends now).
fn parse_send_at(raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let at = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| ApiError::invalid("sendAt", "must be an RFC 3339 date and time"))?
        .with_timezone(&Utc);
    if at > Utc::now() + MAX_SCHEDULE {
        return Err(ApiError::invalid("sendAt", "must be at most a year ahead"));
    }
    Ok((at > Utc::now()).then_some(at))
}

/// The idempotency key, checked: 1 to 256 visible ASCII characters.
fn idempotency_key(raw: Option<String>) -> Result<Option<String>, ApiError> {
    match raw {
        None => Ok(None),
        Some(k)
            if !k.is_empty() && k.len() <= MAX_KEY && k.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(k))
        }
        Some(_) => Err(ApiError::invalid(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY} visible ASCII characters"),
        )),
    }
}

/// The SMTP envelope: the sender and every recipient (Bcc included), each address once.
fn envelope(draft: &MessageDraft) -> Result<Envelope, ApiError> {
    let mut to: Vec<String> = Vec::new();
    for a in draft.to.iter().chain(&draft.cc).chain(&draft.bcc) {
        if !to.iter().any(|t| t.eq_ignore_ascii_case(&a.address)) {
            to.push(a.address.clone());
        }
    }
    if to.is_empty() {
        return Err(ApiError::invalid(
            "to",
            "at least one recipient (to, cc or bcc) is needed",
        ));
    }
    Ok(Envelope {
        from: draft.from.address.clone(),
        to,
    })
}

/// Queue a message for sending.
///
/// `POST /v1/account/:account/submit` → `{messageId, queueId}` once the job is durably
/// queued. With `reference`, the referenced message must exist (404 otherwise, and nothing
/// is queued). With `sendAt`, the message waits until then. With an `Idempotency-Key`
/// header, a request repeating a key of the last 24 hours queues nothing and gets the first
/// request's answer (with `Idempotent-Replayed: true`).
#[utoipa::path(
    post,
    path = "/v1/account/{account}/submit",
    operation_id = "postV1AccountAccountSubmit",
    tag = tags::MESSAGE,
    params(
        ("account" = String, Path, max_length = 256, description = "The account id"),
        ("Idempotency-Key" = Option<String>, Header, max_length = 256,
            description = "Repeating a key answers like the first request and queues nothing"),
    ),
    request_body = SubmitBody,
    responses(
        (status = 200, description = "Queued for sending", body = SubmitResponse),
        (status = 400, description = "Invalid message, or the account has no SMTP settings", body = ApiError),
        (status = 404, description = "Unknown account or referenced message", body = ApiError),
        (status = 413, description = "Body larger than `api.maxSize`", body = ApiError),
        CommandErrors,
    )
)]
pub async fn submit(
    services: Services,
    raw_id: String,
    key: Option<String>,
    body: SubmitBody,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    let key = idempotency_key(key)?;
    let (reference, send_at, draft) = body.into_parts();
    if let Some(r) = &reference {
        MessageId::parse(&r.message).map_err(|_| {
            ApiError::invalid("reference.message", "must be a message id from a listing")
        })?;
    }
    let send_at = parse_send_at(send_at.as_deref())?;
    let envelope = envelope(&draft)?;
    let draft = off_the_runtime(move || draft.validate().map(|()| draft)).await?;
    let account = services
        .store
        .get_account(&id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found("Account record was not found for requested ID"))?;
    if account.smtp.is_none() {
        return Err(ApiError::new(
            400,
            "NoSmtpSettings",
            "The account has no SMTP settings to send with",
        ));
    }
    let draft = match &reference {
        Some(r) => {
            let draft = answering(&services, &id, r, draft).await?;
            match r.action {
                ReferenceAction::Forward => {
                    let max = services.config.api.max_size;
                    if r.inline {
                        quote_original(&services, &id, r, draft, max).await?
                    } else {
                        attach_original(&services, &id, r, draft, max).await?
                    }
                }
                ReferenceAction::Reply => draft,
            }
        }
        None => draft,
    };
    let subject = draft.subject.clone();
    let built = off_the_runtime(move || draft.build(false)).await?;
    let entry = OutboxEntry {
        queue_id: uuid::Uuid::now_v7().to_string(),
        account: id.clone(),
        message_id: built.message_id.clone(),
        envelope,
        subject,
        reference: reference.map(|r| SentReference {
            message: r.message,
            action: match r.action {
                ReferenceAction::Forward => "forward".into(),
                ReferenceAction::Reply => "reply".into(),
            },
        }),
        created: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        send_at: send_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        state: OutboxState::Queued,
        attempts: 0,
        response: None,
        error: None,
        size: built.raw.len() as u64,
    };
    let answer = SubmitResponse {
        message_id: entry.message_id.clone(),
        queue_id: entry.queue_id.clone(),
        send_at: entry.send_at.clone(),
    };
    let claimed = match &key {
        Some(k) => {
            let scoped = format!("{id}:{k}");
            let json =
                serde_json::to_string(&answer).map_err(|e| ApiError::internal(e.to_string()))?;
            let store = &services.store;
            if let Some(first) = store
                .claim_idempotency(&scoped, &json, IDEMPOTENCY_TTL)
                .await
                .map_err(store_error)?
            {
                return Ok(replayed(first));
            }
            Some(scoped)
        }
        None => None,
    };
    if let Err(e) = queue(&services, &entry, &built.raw, send_at).await {
        if let Some(scoped) = claimed {
            let _ = services.store.release_idempotency(&scoped).await;
        }
        return Err(e);
    }
    Ok(json_ok(&answer))
}

/// The stored answer of the first request with this idempotency key.
fn replayed(first: String) -> Response {
    let mut response = Response::new(first.into());
    let headers = response.headers_mut();
    headers.insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        "idempotent-replayed",
        warp::http::HeaderValue::from_static("true"),
    );
    response
}

/// Store the entry and its MIME, then queue the job; on a queue failure the entry goes too,
/// so nothing is listed that will never be sent.
async fn queue(
    services: &Services,
    entry: &OutboxEntry,
    mime: &[u8],
    send_at: Option<DateTime<Utc>>,
) -> Result<(), ApiError> {
    services
        .store
        .put_outbox(entry, mime)
        .await
        .map_err(store_error)?;
    let job = SubmitJob {
        queue_id: entry.queue_id.clone(),
    };
    let body = serde_json::to_vec(&job).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut message = Message::new(entry.account.clone(), body);
    if let Some(at) = send_at {
        message = message.not_before(SystemTime::from(at));
    }
    if let Err(error) = services.bus.publish(QueueName::Submit, message).await {
        tracing::error!(queue_id = %entry.queue_id, %error, "cannot queue a send");
        let _ = services.store.delete_outbox(&entry.queue_id).await;
        return Err(ApiError::new(
            503,
            "QueueError",
            "The message could not be queued; nothing will be sent",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_at_is_checked() {
        assert_eq!(parse_send_at(None).unwrap(), None);
        assert_eq!(parse_send_at(Some("2001-01-01T00:00:00Z")).unwrap(), None);
        let soon = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        assert!(parse_send_at(Some(&soon)).unwrap().is_some());
        let e = parse_send_at(Some("tomorrow")).unwrap_err();
        assert_eq!(e.fields[0].key, "sendAt");
        let far = (Utc::now() + chrono::Duration::days(400)).to_rfc3339();
        assert_eq!(
            parse_send_at(Some(&far)).unwrap_err().fields[0].key,
            "sendAt"
        );
    }

    #[test]
    fn envelopes_hold_every_recipient_once() {
        let a = |s: &str| Address {
            name: String::new(),
            address: s.into(),
        };
        let mut draft = MessageDraft::new(a("me@example.com"));
        assert_eq!(envelope(&draft).unwrap_err().fields[0].key, "to");
        draft.to = vec![a("x@example.com")];
        draft.cc = vec![a("X@example.com"), a("y@example.com")];
        draft.bcc = vec![a("z@example.com")];
        let e = envelope(&draft).unwrap();
        assert_eq!(e.from, "me@example.com");
        assert_eq!(e.to, ["x@example.com", "y@example.com", "z@example.com"]);
    }
}
