//! The REST resources, one module each, and what their handlers share.

pub mod accounts;
pub mod attachment;
pub mod body_stream;
pub mod changes;
pub mod deadletters;
pub mod docs;
pub mod health;
pub mod logs;
pub mod mailbox;
pub mod mailboxes;
pub mod message_update;
pub mod messages;
pub mod metrics;
pub mod oauth;
pub mod outbox;
pub mod reconnect;
pub mod search;
pub mod settings;
pub mod source;
pub mod stats;
pub mod submit;
pub mod text;
pub mod tokens;
pub mod upload;
pub mod verify;
pub mod webhook_test;

use std::convert::Infallible;

use imapapi_common::Services;
use imapapi_common::error::ApiError;
use imapapi_common::ids::MessageId;
use imapapi_common::model::AccountConfig;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::Method;
use warp::reply::Response;

use crate::error::store_error;
use crate::params::decode_segment;

/// One route the router serves: its method and its path template, spelled as in the
/// OpenAPI document (`/v1/account/{account}/message/{message}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
}

impl Route {
    /// `GET path`.
    pub const fn get(path: &'static str) -> Self {
        Route {
            method: Method::GET,
            path,
        }
    }
    /// `POST path`.
    pub const fn post(path: &'static str) -> Self {
        Route {
            method: Method::POST,
            path,
        }
    }
    /// `PUT path`.
    pub const fn put(path: &'static str) -> Self {
        Route {
            method: Method::PUT,
            path,
        }
    }
    /// `DELETE path`.
    pub const fn delete(path: &'static str) -> Self {
        Route {
            method: Method::DELETE,
            path,
        }
    }
}

/// A resource: the filter serving its routes and the list of those routes, kept side by
/// side in its module.
pub struct Resource {
    pub filter: fn(Services) -> BoxedFilter<(Response,)>,
    pub routes: &'static [Route],
}

/// Every resource, in the order the router tries them. `crate::routes()` is built from this
/// table, so a resource is served only when it is listed here, and the OpenAPI coverage test
/// checks the routes listed here against the document and against the live router.
pub const RESOURCES: &[Resource] = &[
    Resource {
        filter: settings::routes,
        routes: settings::ROUTES,
    },
    Resource {
        filter: accounts::routes,
        routes: accounts::ROUTES,
    },
    Resource {
        filter: mailboxes::routes,
        routes: mailboxes::ROUTES,
    },
    Resource {
        filter: mailbox::routes,
        routes: mailbox::ROUTES,
    },
    Resource {
        filter: messages::routes,
        routes: messages::ROUTES,
    },
    Resource {
        filter: message_update::routes,
        routes: message_update::ROUTES,
    },
    Resource {
        filter: source::routes,
        routes: source::ROUTES,
    },
    Resource {
        filter: text::routes,
        routes: text::ROUTES,
    },
    Resource {
        filter: attachment::routes,
        routes: attachment::ROUTES,
    },
    Resource {
        filter: search::routes,
        routes: search::ROUTES,
    },
    Resource {
        filter: reconnect::routes,
        routes: reconnect::ROUTES,
    },
    Resource {
        filter: stats::routes,
        routes: stats::ROUTES,
    },
    Resource {
        filter: verify::routes,
        routes: verify::ROUTES,
    },
    Resource {
        filter: logs::routes,
        routes: logs::ROUTES,
    },
    Resource {
        filter: upload::routes,
        routes: upload::ROUTES,
    },
    Resource {
        filter: submit::routes,
        routes: submit::ROUTES,
    },
    Resource {
        filter: outbox::routes,
        routes: outbox::ROUTES,
    },
    Resource {
        filter: tokens::routes,
        routes: tokens::ROUTES,
    },
    Resource {
        filter: deadletters::routes,
        routes: deadletters::ROUTES,
    },
    Resource {
        filter: changes::routes,
        routes: changes::ROUTES,
    },
    Resource {
        filter: webhook_test::routes,
        routes: webhook_test::ROUTES,
    },
    Resource {
        filter: oauth::routes,
        routes: oauth::ROUTES,
    },
    Resource {
        filter: health::routes,
        routes: health::ROUTES,
    },
    Resource {
        filter: metrics::routes,
        routes: metrics::ROUTES,
    },
    Resource {
        filter: crate::openapi::routes,
        routes: crate::openapi::ROUTES,
    },
];

/// Every route of every resource.
pub fn table() -> impl Iterator<Item = &'static Route> {
    RESOURCES.iter().flat_map(|r| r.routes)
}

/// The filter of every resource, tried in table order.
pub fn all(services: Services) -> BoxedFilter<(Response,)> {
    let none = warp::any()
        .and_then(|| async { Err::<Response, _>(warp::reject::not_found()) })
        .boxed();
    RESOURCES.iter().fold(none, |tried, resource| {
        tried
            .or((resource.filter)(services.clone()))
            .unify()
            .boxed()
    })
}

/// Hands each handler its own clone of the services.
pub fn with(services: Services) -> impl Filter<Extract = (Services,), Error = Infallible> + Clone {
    warp::any().map(move || services.clone())
}

/// The `:account` path parameter, decoded and checked for length.
pub fn account_id(raw: &str) -> Result<String, ApiError> {
    let id = decode_segment("account", raw)?;
    if id.is_empty() || id.chars().count() > 256 {
        return Err(ApiError::invalid(
            "account",
            "length must be 1 to 256 characters",
        ));
    }
    Ok(id)
}

/// The `:message` path parameter, decoded and checked to be a message id (400 naming
/// `message` otherwise), as the command carries it.
pub fn message_id(raw: &str) -> Result<String, ApiError> {
    let message = decode_segment("message", raw)?;
    MessageId::parse(&message)?;
    Ok(message)
}

/// The stored account, or 404. Every `/v1/account/:account/...` route checks this before
/// sending a command, so an unknown account is a 404 rather than a 503.
pub async fn require_account(services: &Services, id: &str) -> Result<AccountConfig, ApiError> {
    services
        .store
        .get_account(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found(format!("Account \"{id}\" was not found")))
}

/// The ingest process that holds `id` (by its lease), where a command goes, and the
/// account's changes state, which a listing or message reply carries as read before its
/// command ran: one store read where the backend can (`CommandRouteStore`). Only an
/// account nobody holds is read, to tell 404 (not registered) from 503 (not connected):
/// calls that reach the mail server are the hot path, and the owner's own check answers
/// 404 for an account deleted since its lease was read.
pub async fn owner_and_state(services: &Services, id: &str) -> Result<(String, String), ApiError> {
    let (owner, state) = services
        .store
        .owner_and_state(id)
        .await
        .map_err(store_error)?;
    match owner {
        Some(owner) => Ok((owner, state.to_string())),
        None => {
            require_account(services, id).await?;
            Err(ApiError::no_connection(id))
        }
    }
}

/// Longest folder path accepted (as the original's listing: 1024 characters).
const MAX_PATH_CHARS: usize = 1024;

/// A folder path given whole (`INBOX`, `Parent/Child`): not empty, at most 1024
/// characters, and no line breaks or NUL: no folder name has them, and a quoted IMAP
/// string cannot carry them.
pub fn check_mailbox_path(field: &str, path: &str) -> Result<(), ApiError> {
    if path.is_empty() {
        return Err(ApiError::invalid(field, "is not allowed to be empty"));
    }
    if path.chars().count() > MAX_PATH_CHARS {
        return Err(ApiError::invalid(
            field,
            format!("length must be less than or equal to {MAX_PATH_CHARS} characters long"),
        ));
    }
    if path.contains(['\r', '\n', '\0']) {
        return Err(ApiError::invalid(field, "must not contain line breaks"));
    }
    Ok(())
}
