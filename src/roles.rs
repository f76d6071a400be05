//! Starting the roles: open the store and bus once, apply prepared settings, then run the
//! chosen role (or all of them) until shutdown. If one role fails, the others are stopped.

use std::sync::Arc;

use anyhow::Context;
use imapapi_common::Services;
use imapapi_common::config::{Config, Role};
use tokio::task::JoinSet;

/// Why `role` cannot run on this configuration: one role alone only works together with
/// the other roles' processes, which it reaches only through a shared store (`dbs.redis`)
/// and a shared queue (`queue.url`). Without them it would run on private embedded ones
/// and silently never talk to the others.
pub fn check_shared_backends(config: &Config, role: Option<&Role>) -> Result<(), String> {
    let name = match role {
        None | Some(Role::Encrypt { .. } | Role::Token { .. }) => return Ok(()),
        Some(Role::Api) => "api",
        Some(Role::Ingest) => "ingest",
        Some(Role::Dispatch) => "dispatch",
        Some(Role::Submit) => "submit",
    };
    let mut missing = Vec::new();
    if config.redis.is_none() {
        missing.push("a shared store (--dbs.redis / REDIS_URL)");
    }
    if config.queue.url.is_none() {
        missing.push("a shared queue (--queue.url / QUEUE_URL)");
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "`imapapi {name}` runs one role beside the others and needs {}; without it this \
         process would use private embedded backends and never reach the other roles. \
         Run `imapapi` with no role for everything in one process.",
        missing.join(" and ")
    ))
}

/// Run `role` (all roles when `None`) until a shutdown signal or a role's failure.
pub async fn run(config: Config, role: Option<Role>) -> anyhow::Result<()> {
    // Before any role records a metric (`GET /metrics` renders them).
    imapapi_common::prometheus::install();
    let config = Arc::new(config);
    let store = imapapi_common::store::open(&config)
        .await
        .context("opening the store")?;
    let bus = imapapi_common::bus::connect(&config)
        .await
        .context("connecting the queue")?;
    crate::secret_check::check(&store, config.service.secret.as_ref()).await?;
    let services = Services::new(config.clone(), store, bus);

    if let Some(prepared) = &config.settings {
        // Same behaviour as POST /v1/settings: merge the given keys into the stored ones.
        let mut settings = services.store.get_settings().await?;
        settings.merge(prepared.clone());
        services
            .store
            .put_settings(&settings)
            .await
            .context("storing --settings")?;
    }

    let shutdown = crate::shutdown::on_signal();
    // Stopped only after the roles, so that its last flush carries their last counts.
    let flusher_stop = tokio_util::sync::CancellationToken::new();
    let flusher = tokio::spawn(
        services
            .counters
            .clone()
            .run_flusher(services.store.clone(), flusher_stop.clone()),
    );
    let mut tasks = JoinSet::new();
    let all = role.is_none();
    if all || role == Some(Role::Ingest) {
        tasks.spawn(named(
            "ingest",
            imapapi_ingest::run(services.clone(), shutdown.clone()),
        ));
    }
    if all || role == Some(Role::Dispatch) {
        tasks.spawn(named(
            "dispatch",
            imapapi_dispatch::run(services.clone(), shutdown.clone()),
        ));
    }
    if all || role == Some(Role::Submit) {
        tasks.spawn(named(
            "submit",
            imapapi_submit::run(services.clone(), shutdown.clone()),
        ));
    }
    if all || role == Some(Role::Api) {
        tasks.spawn(named(
            "api",
            imapapi_api::serve(services.clone(), shutdown.clone()),
        ));
    } else if let Some(port) = config.api.metrics_port {
        // The api serves /metrics itself; a process without it does so here.
        let host = config.api.host.clone();
        let stop = shutdown.clone();
        tasks.spawn(named("metrics", async move {
            imapapi_api::serve_metrics(&host, port, stop).await
        }));
    }
    tracing::info!(
        role = role
            .as_ref()
            .map(|r| format!("{r:?}"))
            .unwrap_or_else(|| "all".into()),
        store = if config.redis.is_some() {
            "redis"
        } else {
            "embedded"
        },
        queue = config.queue.backend_name(),
        "imapapi started"
    );

    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        let outcome = done.context("a role panicked").and_then(|r| r);
        if let Err(e) = outcome
            && first_error.is_none()
        {
            first_error = Some(e);
        }
        // Whatever ended first, the process is going down: stop the others cleanly.
        shutdown.cancel();
    }
    flusher_stop.cancel();
    if let Err(error) = flusher.await {
        tracing::warn!(%error, "the usage counter flusher panicked");
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn named(
    name: &'static str,
    fut: impl Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    fut.await.with_context(|| format!("the {name} role failed"))
}
