//! The OpenAPI 3 document of the REST api, generated with utoipa from the handlers'
//! `#[utoipa::path]` annotations and the request and response types, and the two routes
//! that serve it: `GET /openapi.json` and `GET /swagger.json` (the same document; the
//! original's Swagger UI loaded `/swagger.json`).
//!
//! Both are public, like `/health`: they are documentation, not data, and Swagger UI
//! (`/docs/`, `routes::docs`) loads `/openapi.json` before anyone has entered credentials.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use imapapi_common::Services;
use imapapi_common::command::listing::{HeaderMatch, SearchDate, SearchQuery};
use imapapi_common::command::{
    CreateMailboxReply, DeleteMailboxReply, DeleteMessageReply, FlagChanges, FlagUpdate,
    MoveMessageReply, MovedTo, RenameMailboxReply, TextReply, TextType, UpdateFlagsReply,
    UploadMessageReply,
};
use imapapi_common::compose::{
    AttachmentDraft, ContentEncoding, Disposition, MessageReference, ReferenceAction,
};
use imapapi_common::error::{ApiError, FieldError};
use imapapi_common::model::{
    AccountConfig, AccountErrorEntry, AccountState, AccountStatus, Address, AttachmentEntry,
    AuthConfig, EncodedSize, Envelope, Event, EventKind, FailingReceiver, ImapConfig, LogSettings,
    MailboxEntry, MailboxList, MessageDetails, MessageList, MessageListEntry, OAuth2Config,
    OAuth2User, OutboxEntry, OutboxState, Secret, SentReference, Settings, SmtpConfig, TextContent,
    TextInfo, TlsConfig,
};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response as ApiResponse, ResponseBuilder};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{IntoResponses, Modify, OpenApi, PartialSchema, ToSchema};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::header::CONTENT_TYPE;
use warp::reply::{Reply, Response};

use crate::error::respond;
use crate::routes::accounts::{
    AccountDetails, AccountList, AccountListEntry, CreateAccountOutcome, CreateAccountReply,
    CreateState, DeleteAccountReply, UpdateAccount, UpdateAccountReply,
};
use crate::routes::changes::{CannotCalculateChanges, Changes};
use crate::routes::deadletters::{
    DeadLetter, DeadLetters, DeadLettersDeleted, DeadLettersRedriven, RedriveBody,
};
use crate::routes::health::{Health, Readiness};
use crate::routes::mailbox::{CreateMailboxBody, RenameMailboxBody};
use crate::routes::message_update::{MessageMove, MessageUpdate};
use crate::routes::oauth::ConsentRedirect;
use crate::routes::outbox::{OutboxDeleted, OutboxList};
use crate::routes::reconnect::RequestReconnect;
use crate::routes::search::SearchBody;
use crate::routes::settings::{SettingsReply, SettingsUpdated};
use crate::routes::stats::Stats;
use crate::routes::submit::{SubmitBody, SubmitResponse};
use crate::routes::tokens::{CreateToken, CreatedToken, TokenDeleted, TokenInfo, TokenList};
use crate::routes::upload::{UploadBody, UploadResponse};
use crate::routes::verify::{CheckResult, VerifyAccount, VerifyAccountReply};
use crate::routes::webhook_test::{WebhookTestBody, WebhookTestReply};
use crate::routes::{self, Route};

/// The tags that group the operations.
pub mod tags {
    /// Accounts: registering, reading, changing, checking, reconnecting.
    pub const ACCOUNT: &str = "Account";
    /// Folders.
    pub const MAILBOX: &str = "Mailbox";
    /// Messages: listings, details, text, downloads, changes, search, upload.
    pub const MESSAGE: &str = "Message";
    /// Gateway-wide settings.
    pub const SETTINGS: &str = "Settings";
    /// The gateway itself: stats and undeliverable events.
    pub const SERVICE: &str = "Service";
    /// This document.
    pub const DOCS: &str = "Docs";
}

/// The name of the basic auth security scheme.
const BASIC_AUTH: &str = "basicAuth";
/// The name of the access token security scheme (the `Authorization: Bearer` header).
const BEARER_TOKEN: &str = "bearerToken";
/// The name of the access token in the query (`?access_token=`).
const QUERY_TOKEN: &str = "queryToken";

/// The OpenAPI document: every route of [`routes::RESOURCES`] and every schema in their
/// bodies.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "IMAP API",
        version = env!("CARGO_PKG_VERSION"),
        description = "IMAP and SMTP accounts over REST; changes are sent as webhooks and \
            queue events. Operation ids follow the original IMAP API 1.8."
    ),
    paths(
        routes::settings::get_settings,
        routes::settings::post_settings,
        routes::accounts::create_account,
        routes::accounts::list_accounts,
        routes::accounts::get_account,
        routes::accounts::update_account,
        routes::accounts::delete_account,
        routes::logs::get_logs,
        routes::mailboxes::list_mailboxes,
        routes::mailbox::create_mailbox,
        routes::mailbox::delete_mailbox,
        routes::mailbox::rename_mailbox,
        routes::messages::list_messages,
        routes::messages::get_message,
        routes::message_update::update_message,
        routes::message_update::move_message,
        routes::message_update::delete_message,
        routes::source::get_source,
        routes::text::get_text,
        routes::attachment::get_attachment,
        routes::search::search,
        routes::reconnect::reconnect,
        routes::stats::stats,
        routes::verify::verify,
        routes::upload::upload_message,
        routes::submit::submit,
        routes::outbox::list_outbox,
        routes::outbox::get_outbox,
        routes::outbox::cancel,
        routes::tokens::create_token,
        routes::tokens::list_tokens,
        routes::tokens::delete_token,
        routes::deadletters::list_dead_letters,
        routes::deadletters::redrive_dead_letters,
        routes::deadletters::delete_dead_letters,
        routes::webhook_test::test_webhook,
        routes::changes::get_changes,
        routes::oauth::finish_consent,
        routes::health::health,
        routes::health::ready,
        routes::metrics::metrics,
        openapi_json,
        swagger_json,
    ),
    components(schemas(
        ApiError, FieldError,
        AccountConfig, AuthConfig, TlsConfig, ImapConfig, SmtpConfig, OAuth2Config, OAuth2User,
        Secret, AccountState, AccountStatus, AccountErrorEntry,
        CreateAccountReply, CreateState, UpdateAccount, UpdateAccountReply, DeleteAccountReply,
        AccountList, AccountListEntry, AccountDetails,
        VerifyAccount, VerifyAccountReply, CheckResult, RequestReconnect,
        Settings, LogSettings, SettingsReply, SettingsUpdated, EventKind,
        MailboxList, MailboxEntry, CreateMailboxBody, CreateMailboxReply, DeleteMailboxReply,
        RenameMailboxBody, RenameMailboxReply,
        MessageList, MessageListEntry, MessageDetails, Address, AttachmentEntry, EncodedSize,
        TextInfo, TextContent, TextReply, TextType,
        MessageUpdate, FlagUpdate, UpdateFlagsReply, FlagChanges, MessageMove, MoveMessageReply,
        DeleteMessageReply, MovedTo,
        SearchBody, SearchQuery, SearchDate, HeaderMatch,
        UploadBody, UploadResponse, UploadMessageReply, MessageReference, ReferenceAction,
        AttachmentDraft, Disposition, ContentEncoding,
        Stats, FailingReceiver, DeadLetters, DeadLetter, Event, Health, Readiness,
        RedriveBody, DeadLettersRedriven, DeadLettersDeleted, WebhookTestBody, WebhookTestReply,
        Changes, CannotCalculateChanges,
        SubmitBody, SubmitResponse, OutboxList, OutboxDeleted, OutboxEntry, OutboxState, Envelope,
        SentReference, CreateAccountOutcome, ConsentRedirect, CreateToken, CreatedToken, TokenInfo, TokenList, TokenDeleted,
    )),
    tags(
        (name = tags::ACCOUNT, description = "Accounts: registering, reading, changing, checking and reconnecting them"),
        (name = tags::MAILBOX, description = "The folders of an account"),
        (name = tags::MESSAGE, description = "Messages: listings, details, text, downloads, changes, search and upload"),
        (name = tags::SETTINGS, description = "Gateway-wide settings: webhooks, notify options, OAuth2 clients"),
        (name = tags::SERVICE, description = "The gateway itself: stats and events whose delivery failed"),
        (name = tags::DOCS, description = "This document"),
    ),
    modifiers(&Conventions),
)]
pub struct ApiDoc;

/// What every operation shares, added after generation: the optional credentials (basic
/// auth, or an access token in the header or the query; 401 without the right ones when
/// auth is required, 403 for a token whose scopes do not cover the route; neither for the
/// public operations) and the 500 of a failing store.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BASIC_AUTH,
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        components.add_security_scheme(
            BEARER_TOKEN,
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            QUERY_TOKEN,
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new(crate::params::ACCESS_TOKEN))),
        );
        // Optional: required only when `api.auth` or `api.requireAuth` is set.
        openapi.security = Some(vec![
            SecurityRequirement::default(),
            SecurityRequirement::new(BASIC_AUTH, Vec::<String>::new()),
            SecurityRequirement::new(BEARER_TOKEN, Vec::<String>::new()),
            SecurityRequirement::new(QUERY_TOKEN, Vec::<String>::new()),
        ]);
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                let public = is_public(operation);
                let responses = &mut operation.responses.responses;
                if !public {
                    responses.entry("401".into()).or_insert_with(|| {
                        error_response("Missing, invalid or expired credentials")
                    });
                    responses.entry("403".into()).or_insert_with(|| {
                        error_response("The access token's scopes do not allow this request")
                    });
                }
                responses
                    .entry("500".into())
                    .or_insert_with(|| error_response("Internal error (the store failed)"));
            }
        }
    }
}

/// Whether the operation says `security(())`: mounted before the auth check, so it never
/// answers 401 or 403.
fn is_public(operation: &Operation) -> bool {
    operation.security.as_ref().is_some_and(|requirements| {
        requirements
            .iter()
            .all(|r| *r == SecurityRequirement::default())
    })
}

/// Every operation of a path item.
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// A response with an [`ApiError`] body.
fn error_response(description: &str) -> RefOr<ApiResponse> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ApiError::name())))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build()
        .into()
}

/// The errors of every route that sends a command to the ingest process owning the
/// account.
pub struct CommandErrors;

impl IntoResponses for CommandErrors {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        BTreeMap::from([
            (
                "502".into(),
                error_response("The IMAP server refused or failed the command"),
            ),
            (
                "503".into(),
                error_response("No live IMAP connection for the account"),
            ),
            (
                "504".into(),
                error_response("The IMAP connection did not answer in time"),
            ),
        ])
    }
}

/// The body of a download: the bytes themselves, not JSON.
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for Binary {}

/// The routes of this module, as the document spells them.
pub const ROUTES: &[Route] = &[Route::get("/openapi.json"), Route::get("/swagger.json")];

/// `GET /openapi.json` and `GET /swagger.json`.
pub fn routes(_services: Services) -> BoxedFilter<(Response,)> {
    let openapi = warp::path!("openapi.json")
        .and(warp::get())
        .then(openapi_json);
    let swagger = warp::path!("swagger.json")
        .and(warp::get())
        .then(swagger_json);
    openapi.or(swagger).unify().boxed()
}

/// The OpenAPI document of this API.
///
/// Public: answered without credentials also when auth is required.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "getOpenapiJson",
    tag = tags::DOCS,
    security(()),
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)),
)]
pub async fn openapi_json() -> Response {
    respond(document_response())
}

/// The OpenAPI document again, where the original's Swagger UI loaded it.
///
/// The same document as `/openapi.json`, public like it.
#[utoipa::path(
    get,
    path = "/swagger.json",
    operation_id = "getSwaggerJson",
    tag = tags::DOCS,
    security(()),
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)),
)]
pub async fn swagger_json() -> Response {
    respond(document_response())
}

/// The document as JSON, generated and encoded once.
pub fn document_json() -> Result<&'static str, ApiError> {
    static JSON: OnceLock<Result<String, String>> = OnceLock::new();
    JSON.get_or_init(|| ApiDoc::openapi().to_json().map_err(|e| e.to_string()))
        .as_deref()
        .map_err(|e| {
            tracing::error!(error = %e, "encoding the OpenAPI document failed");
            ApiError::internal("Could not encode the OpenAPI document")
        })
}

fn document_response() -> Result<Response, ApiError> {
    let json = document_json()?;
    Ok(warp::reply::with_header(json, CONTENT_TYPE, "application/json").into_response())
}
