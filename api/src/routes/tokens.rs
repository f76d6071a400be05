//! `/v1/tokens`: access tokens for the REST api (not in the original, which had one basic
//! auth pair). A token is shown once, when created; only its SHA-256 hash is stored, so
//! neither the store nor `GET /v1/tokens` can give it back.

use imapapi_common::clock::now_ms;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use imapapi_common::Services;
use imapapi_common::error::ApiError;
use imapapi_common::model::token::{new_token, token_hash};
use imapapi_common::model::{Scope, TokenRecord};
use imapapi_common::store::TokenStore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond, store_error};
use crate::openapi::tags;
use crate::params::decode_segment;
use crate::routes::{Route, with};

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[
    Route::post("/v1/tokens"),
    Route::get("/v1/tokens"),
    Route::delete("/v1/tokens/{token}"),
];

/// Longest description accepted.
const MAX_DESCRIPTION_CHARS: usize = 1024;
/// Most scopes on one token.
const MAX_SCOPES: usize = 100;

/// The body of `POST /v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateToken {
    /// What the token is for, shown in listings.
    #[schema(example = "CRM sync", max_length = 1024)]
    pub description: String,
    /// `api` (everything), `read` (every GET, and search), `account:<id>` (every route of
    /// one account). A token may do what any of its scopes allows.
    #[schema(value_type = Vec<String>, example = json!(["read", "account:example"]))]
    pub scopes: Vec<String>,
    /// When the token stops working (RFC 3339). Not with `ttl`.
    #[serde(default)]
    #[schema(example = "2027-01-01T00:00:00Z")]
    pub expires: Option<String>,
    /// How long the token works, such as `30d` or `12h`. Not with `expires`.
    #[serde(default)]
    #[schema(example = "30d")]
    pub ttl: Option<String>,
}

/// A token as listed: everything but the token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    /// The public id, for `DELETE /v1/tokens/{token}`.
    pub id: Uuid,
    pub description: String,
    #[schema(value_type = Vec<String>)]
    pub scopes: Vec<Scope>,
    /// RFC 3339.
    pub created: String,
    /// RFC 3339; absent when the token never expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Whether the token has expired (it then gives 401; delete it to tidy up).
    pub expired: bool,
}

/// The answer of `POST /v1/tokens`: the token, shown this once, and its record.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedToken {
    /// The token: `Authorization: Bearer <token>` or `?access_token=<token>`. Keep it: it
    /// cannot be shown again.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenInfo,
}

/// The answer of `GET /v1/tokens`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    /// Oldest first.
    pub tokens: Vec<TokenInfo>,
}

/// The answer of `DELETE /v1/tokens/{token}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenDeleted {
    pub deleted: bool,
}

/// The token routes.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    let max_size = services.config.api.max_size;
    let create = warp::path!("v1" / "tokens")
        .and(warp::post())
        .and(with(services.clone()))
        .and(crate::body::json::<CreateToken>(max_size))
        .then(|s: Services, body: CreateToken| async move { respond(create_token(s, body).await) });
    let list = warp::path!("v1" / "tokens")
        .and(warp::get())
        .and(with(services.clone()))
        .then(|s: Services| async move { respond(list_tokens(s).await) });
    let delete = warp::path!("v1" / "tokens" / String)
        .and(warp::delete())
        .and(with(services))
        .then(|token: String, s: Services| async move { respond(delete_token(s, token).await) });
    create.or(list).unify().or(delete).unify().boxed()
}

/// Create an access token (not in the original).
///
/// `POST /v1/tokens` with `{description, scopes, expires | ttl}` → the token, shown this
/// once, with its id. Needs full access (basic auth or an `api` token).
#[utoipa::path(
    post,
    path = "/v1/tokens",
    operation_id = "postV1Tokens",
    tag = tags::SERVICE,
    request_body = CreateToken,
    responses(
        (status = 200, description = "The new token", body = CreatedToken),
        (status = 400, description = "Invalid body; the field is named", body = ApiError),
        (status = 403, description = "The token used has no `api` scope", body = ApiError),
        (status = 413, description = "Body larger than `api.maxSize`", body = ApiError),
    )
)]
pub async fn create_token(services: Services, body: CreateToken) -> Result<Response, ApiError> {
    Ok(json_ok(&issue(&*services.store, body).await?))
}

/// Check `body`, store the new token's record and return the token: for the route and for
/// `imapapi token`, which makes the first token of a gateway with `api.requireAuth`.
pub async fn issue(store: &dyn TokenStore, body: CreateToken) -> Result<CreatedToken, ApiError> {
    let now = now_ms();
    let record = check(body, now)?;
    let token = new_token();
    let record = TokenRecord {
        hash: token_hash(&token),
        ..record
    };
    store.put_token(&record).await.map_err(store_error)?;
    let scopes: Vec<String> = record.scopes.iter().map(ToString::to_string).collect();
    tracing::info!(id = %record.id, ?scopes, "access token created");
    Ok(CreatedToken {
        token,
        info: info(&record, now),
    })
}

/// The record a valid body describes, its hash still empty.
fn check(body: CreateToken, now: u64) -> Result<TokenRecord, ApiError> {
    if body.description.trim().is_empty() {
        return Err(ApiError::invalid(
            "description",
            "is not allowed to be empty",
        ));
    }
    if body.description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::invalid(
            "description",
            format!("length must be less than or equal to {MAX_DESCRIPTION_CHARS} characters long"),
        ));
    }
    if body.scopes.is_empty() || body.scopes.len() > MAX_SCOPES {
        return Err(ApiError::invalid(
            "scopes",
            format!("must list 1 to {MAX_SCOPES} scopes"),
        ));
    }
    let mut scopes = Vec::with_capacity(body.scopes.len());
    for (i, s) in body.scopes.iter().enumerate() {
        let scope = s
            .parse::<Scope>()
            .map_err(|e| ApiError::invalid(&format!("scopes[{i}]"), e.to_string()))?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    let expires = match (body.expires, body.ttl) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "ttl",
                "is not allowed together with expires",
            ));
        }
        (Some(at), None) => Some(parse_expiry(&at, now)?),
        (None, Some(ttl)) => Some(parse_ttl(&ttl, now)?),
        (None, None) => None,
    };
    Ok(TokenRecord {
        id: Uuid::new_v4(),
        hash: String::new(),
        description: body.description,
        scopes,
        created: now,
        expires,
    })
}

fn parse_expiry(at: &str, now: u64) -> Result<u64, ApiError> {
    let when = DateTime::parse_from_rfc3339(at)
        .map_err(|_| ApiError::invalid("expires", "must be an RFC 3339 date"))?;
    let ms = u64::try_from(when.timestamp_millis()).unwrap_or(0);
    if ms <= now {
        return Err(ApiError::invalid("expires", "must be in the future"));
    }
    Ok(ms)
}

fn parse_ttl(ttl: &str, now: u64) -> Result<u64, ApiError> {
    let d: Duration = humantime::parse_duration(ttl.trim())
        .map_err(|_| ApiError::invalid("ttl", "must be a duration such as 30d or 12h"))?;
    if d.is_zero() {
        return Err(ApiError::invalid("ttl", "must be longer than zero"));
    }
    Ok(now.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
}

/// List the access tokens (not in the original).
///
/// `GET /v1/tokens` → `{tokens: [{id, description, scopes, created, expires, expired}]}`,
/// oldest first; never the tokens themselves. Needs full access.
#[utoipa::path(
    get,
    path = "/v1/tokens",
    operation_id = "getV1Tokens",
    tag = tags::SERVICE,
    responses(
        (status = 200, description = "Every token, oldest first", body = TokenList),
        (status = 403, description = "The token used has no `api` scope", body = ApiError),
    )
)]
pub async fn list_tokens(services: Services) -> Result<Response, ApiError> {
    let mut records = services.store.list_tokens().await.map_err(store_error)?;
    records.sort_by_key(|r| (r.created, r.id));
    let now = now_ms();
    let tokens = records.iter().map(|r| info(r, now)).collect();
    Ok(json_ok(&TokenList { tokens }))
}

/// Delete an access token (not in the original).
///
/// `DELETE /v1/tokens/{token}`, by its id or by the token itself → `{deleted: true}`; it
/// stops working at once. 404 when there is no such token. Needs full access.
#[utoipa::path(
    delete,
    path = "/v1/tokens/{token}",
    operation_id = "deleteV1TokensToken",
    tag = tags::SERVICE,
    params(("token" = String, Path, description = "The token's id, or the token itself")),
    responses(
        (status = 200, description = "The token was deleted", body = TokenDeleted),
        (status = 403, description = "The token used has no `api` scope", body = ApiError),
        (status = 404, description = "No such token", body = ApiError),
    )
)]
pub async fn delete_token(services: Services, raw: String) -> Result<Response, ApiError> {
    let given = decode_segment("token", &raw)?;
    let id = match Uuid::parse_str(&given) {
        Ok(id) => Some(id),
        Err(_) => services
            .store
            .token_by_hash(&token_hash(&given))
            .await
            .map_err(store_error)?
            .map(|r| r.id),
    };
    let deleted = match id {
        Some(id) => services.store.delete_token(id).await.map_err(store_error)?,
        None => false,
    };
    if !deleted {
        return Err(ApiError::not_found("Token was not found"));
    }
    tracing::info!(id = %id.unwrap_or_default(), "access token deleted");
    Ok(json_ok(&TokenDeleted { deleted }))
}

fn info(r: &TokenRecord, now: u64) -> TokenInfo {
    TokenInfo {
        id: r.id,
        description: r.description.clone(),
        scopes: r.scopes.clone(),
        created: rfc3339(r.created),
        expires: r.expires.map(rfc3339),
        expired: r.expired_at(now),
    }
}

fn rfc3339(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> CreateToken {
        serde_json::from_value(json).unwrap()
    }

    fn field(e: ApiError) -> String {
        e.fields.first().map(|f| f.key.clone()).unwrap_or_default()
    }

    #[test]
    fn checks_every_field() {
        let now = 1_700_000_000_000; // 2023-11-14
        let ok = check(
            body(serde_json::json!({"description": "d", "scopes": ["api", "api", "read"]})),
            now,
        )
        .unwrap();
        assert_eq!(ok.scopes, vec![Scope::Api, Scope::Read]);
        assert_eq!(ok.expires, None);
        let ttl = check(
            body(serde_json::json!({"description": "d", "scopes": ["read"], "ttl": "1h"})),
            now,
        )
        .unwrap();
        assert_eq!(ttl.expires, Some(now + 3_600_000));
        let at = check(body(serde_json::json!({"description": "d", "scopes": ["read"], "expires": "2100-01-01T00:00:00Z"})), now).unwrap();
        assert!(at.expires.unwrap() > now);
        for (json, key) in [
            (
                serde_json::json!({"description": "", "scopes": ["api"]}),
                "description",
            ),
            (
                serde_json::json!({"description": "d", "scopes": []}),
                "scopes",
            ),
            (
                serde_json::json!({"description": "d", "scopes": ["api", "root"]}),
                "scopes[1]",
            ),
            (
                serde_json::json!({"description": "d", "scopes": ["api"], "ttl": "soon"}),
                "ttl",
            ),
            (
                serde_json::json!({"description": "d", "scopes": ["api"], "ttl": "0s"}),
                "ttl",
            ),
            (
                serde_json::json!({"description": "d", "scopes": ["api"], "expires": "2000-01-01T00:00:00Z"}),
                "expires",
            ),
            (
                serde_json::json!({"description": "d", "scopes": ["api"], "expires": "tomorrow"}),
                "expires",
            ),
            (
                serde_json::json!({"description": "d", "scopes": ["api"], "expires": "2100-01-01T00:00:00Z", "ttl": "1h"}),
                "ttl",
            ),
        ] {
            let e = check(body(json.clone()), now).unwrap_err();
            assert_eq!(e.status_code, 400, "{json}");
            assert_eq!(field(e), key, "{json}");
        }
    }
}
