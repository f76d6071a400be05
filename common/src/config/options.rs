//! The typed configuration and how it is assembled from its layers.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::cli::Cli;
use crate::bus::{RetryPolicies, RetryPolicy};
use crate::model::{Secret, Settings};

const DEFAULTS: &str = include_str!("default.toml");

/// Every option: its `section.key` and its environment variable.
pub const OPTIONS: &[(&str, &str)] = &[
    ("workers.imap", "WORKERS_IMAP"),
    ("dbs.redis", "REDIS_URL"),
    ("dbs.path", "DATA_DIR"),
    ("api.host", "API_HOST"),
    ("api.port", "API_PORT"),
    ("api.metricsPort", "API_METRICS_PORT"),
    ("api.maxSize", "API_MAX_SIZE"),
    ("api.auth", "IMAPAPI_AUTH"),
    ("api.requireAuth", "API_REQUIRE_AUTH"),
    ("service.commandTimeout", "COMMAND_TIMEOUT"),
    ("service.secret", "IMAPAPI_SECRET"),
    ("service.localAddresses", "LOCAL_ADDRESSES"),
    ("log.level", "LOG_LEVEL"),
    ("log.format", "LOG_FORMAT"),
    ("settings", "SETTINGS"),
    ("queue.url", "QUEUE_URL"),
    ("queue.prefix", "QUEUE_PREFIX"),
    ("queue.maxAttempts", "QUEUE_MAX_ATTEMPTS"),
    ("queue.retryDelay", "QUEUE_RETRY_DELAY"),
    ("queue.maxRetryDelay", "QUEUE_MAX_RETRY_DELAY"),
    ("queue.visibilityTimeout", "QUEUE_VISIBILITY_TIMEOUT"),
    ("submit.maxAttempts", "SUBMIT_MAX_ATTEMPTS"),
    ("submit.retryDelay", "SUBMIT_RETRY_DELAY"),
    ("ingest.nodeId", "INGEST_NODE_ID"),
    ("ingest.leaseTtl", "INGEST_LEASE_TTL"),
    ("ingest.scanInterval", "INGEST_SCAN_INTERVAL"),
    ("ingest.commandConnections", "INGEST_COMMAND_CONNECTIONS"),
    (
        "ingest.commandConnectionsMax",
        "INGEST_COMMAND_CONNECTIONS_MAX",
    ),
    ("ingest.commandIdle", "INGEST_COMMAND_IDLE"),
    ("ingest.notify", "INGEST_NOTIFY"),
    ("ingest.messageCache", "INGEST_MESSAGE_CACHE"),
    ("ingest.idleFolders", "INGEST_IDLE_FOLDERS"),
    ("ingest.emfNamespace", "INGEST_EMF_NAMESPACE"),
    ("ingest.emfDimensions", "INGEST_EMF_DIMENSIONS"),
    ("ingest.emfInterval", "INGEST_EMF_INTERVAL"),
    ("webhooks.timeout", "WEBHOOKS_TIMEOUT"),
    ("webhooks.concurrency", "WEBHOOKS_CONCURRENCY"),
    ("webhooks.signingKey", "WEBHOOKS_SIGNING_KEY"),
    ("webhooks.breakerMaxPause", "WEBHOOKS_BREAKER_MAX_PAUSE"),
    ("gmail.authUrl", "GMAIL_AUTH_URL"),
    ("gmail.tokenUrl", "GMAIL_TOKEN_URL"),
    ("gmail.profileUrl", "GMAIL_PROFILE_URL"),
    ("gmail.imap", "GMAIL_IMAP"),
    ("gmail.smtp", "GMAIL_SMTP"),
];

/// A configuration error; the message names the option.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// `queue.url` is `amqp(s)://…`, or `sqs://<prefix>` (the prefix may be left to
/// `queue.prefix`) with a Redis for node requests.
fn check_queue_url(url: &str, has_redis: bool, queue_prefix: &str) -> Result<(), ConfigError> {
    let Some(prefix) = crate::bus::sqs::queue_prefix(url, queue_prefix) else {
        if url.starts_with("amqp://") || url.starts_with("amqps://") {
            return Ok(());
        }
        return Err(bad("queue.url", url, "an amqp://, amqps:// or sqs:// URL"));
    };
    crate::bus::sqs::check_prefix(prefix).map_err(|e| bad("queue.url", url, &e))?;
    if !has_redis {
        return Err(ConfigError(format!(
            "--queue.url={} needs --dbs.redis: on SQS, api reaches ingest through Redis",
            super::redact::redact_url(url)
        )));
    }
    Ok(())
}

/// An invalid option, named, with its value shown only where that gives nothing away:
/// never a secret, and URLs with their password masked.
fn bad(key: &str, value: &str, expected: &str) -> ConfigError {
    let shown = match key {
        "service.secret" | "api.auth" | "webhooks.signingKey" => "******".to_string(),
        "queue.url" | "dbs.redis" => super::redact::redact_url(value),
        _ => value.to_string(),
    };
    ConfigError(format!("--{key}={shown}: expected {expected}"))
}

/// Basic auth credentials for the REST api.
#[derive(Debug, Clone, PartialEq)]
pub struct BasicAuth {
    pub user: String,
    pub pass: Secret,
}

/// A local address to bind outbound connections to, with the EHLO hostname to use.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalAddress {
    pub ip: IpAddr,
    pub hostname: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    pub host: String,
    pub port: u16,
    /// Where a process without the api role serves `GET /metrics`; `None`: nowhere.
    pub metrics_port: Option<u16>,
    pub max_size: u64,
    pub auth: Option<BasicAuth>,
    /// Refuse requests without credentials even when `auth` is not set (access tokens
    /// only).
    pub require_auth: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    pub command_timeout: Duration,
    pub secret: Option<Secret>,
    pub local_addresses: Vec<LocalAddress>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// `amqp://…` for RabbitMQ, `sqs://<prefix>` for Amazon SQS; `None` for in-process
    /// queues.
    pub url: Option<String>,
    pub prefix: String,
    /// Retries of the events queue (webhooks), with jitter.
    pub retry: RetryPolicy,
    /// Retries of the submit queue (sending), always with jitter.
    pub submit_retry: RetryPolicy,
    /// SQS: how long a received message stays hidden from other consumers.
    pub visibility: Duration,
}

impl QueueConfig {
    /// Which backend `url` picks, for logs: `sqs`, `rabbitmq` or `embedded`.
    pub fn backend_name(&self) -> &'static str {
        match self.url.as_deref() {
            None => "embedded",
            Some(url) if crate::bus::sqs::prefix_of(url).is_some() => "sqs",
            Some(_) => "rabbitmq",
        }
    }

    /// The retry policy of every queue.
    pub fn retry_policies(&self) -> RetryPolicies {
        RetryPolicies {
            events: self.retry,
            submit: self.submit_retry,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IngestConfig {
    pub node_id: String,
    pub lease_ttl: Duration,
    pub scan_interval: Duration,
    /// Command connections per account (beside the one that watches for changes).
    pub command_connections: usize,
    /// Command connections open at once on this node, over all accounts.
    pub command_connections_max: usize,
    /// How long an unused command connection stays open.
    pub command_idle: Duration,
    /// Set NOTIFY on watching connections where the server has it.
    pub notify: bool,
    /// Without NOTIFY: folders (special use like `\Sent`, or paths) watched by IDLE
    /// connections of their own.
    pub idle_folders: Vec<String>,
    /// Bytes of decoded messages kept for listings and details (0: none).
    pub message_cache: u64,
    /// The owned-accounts metric for CloudWatch; `None`: not written.
    pub emf: Option<EmfMetric>,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines, for a terminal.
    Text,
}

/// Where and how ingest writes its owned-accounts metric (CloudWatch Embedded Metric
/// Format).
#[derive(Debug, Clone, PartialEq)]
pub struct EmfMetric {
    pub namespace: String,
    /// Name and value of each dimension, in order.
    pub dimensions: Vec<(String, String)>,
    pub interval: Duration,
}

/// `Name=value,Name=value` (CloudWatch takes at most 30 dimensions).
fn emf_dimensions(list: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() && !value.trim().is_empty() => {
                out.push((name.trim().to_string(), value.trim().to_string()));
            }
            _ => {
                return Err(bad(
                    "ingest.emfDimensions",
                    list,
                    "Name=value pairs separated by commas",
                ));
            }
        }
    }
    if out.len() > 30 {
        return Err(bad("ingest.emfDimensions", list, "at most 30 dimensions"));
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhooksConfig {
    pub timeout: Duration,
    pub concurrency: usize,
    /// Signs every webhook body (HMAC-SHA256); `None`: unsigned.
    pub signing_key: Option<Secret>,
    /// Longest pause of a failing receiver's circuit breaker between two probes.
    pub breaker_max_pause: Duration,
}

/// Where the gateway-run Gmail OAuth2 goes: Google's endpoints and servers by default; a
/// Google-compatible provider (or the test rig) otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct GmailConfig {
    /// The consent screen.
    pub auth_url: String,
    pub token_url: String,
    /// Answers `{emailAddress}` for an access token.
    pub profile_url: String,
    /// IMAP server of accounts created by the consent flow (implicit TLS).
    pub imap: (String, u16),
    /// SMTP server of those accounts (implicit TLS).
    pub smtp: (String, u16),
}

impl Default for GmailConfig {
    fn default() -> Self {
        GmailConfig {
            auth_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
            profile_url: "https://gmail.googleapis.com/gmail/v1/users/me/profile".into(),
            imap: ("imap.gmail.com".into(), 993),
            smtp: ("smtp.gmail.com".into(), 465),
        }
    }
}

/// `host:port`.
/// `ingest.idleFolders`: a comma separated list, each entry checked as an account's
/// `imap.idleFolders` is.
fn idle_folders(list: &str) -> Result<Vec<String>, ConfigError> {
    let entries: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    crate::model::idle_folders::check(&entries).map_err(|e| {
        let (shown, subject) = match e.index {
            Some(i) => (entries[i].as_str(), "this entry"),
            None => (list, "the list"),
        };
        let expected = format!(
            "special uses or folder paths, at most 32 ({subject} {})",
            e.problem
        );
        bad("ingest.idleFolders", shown, &expected)
    })?;
    Ok(entries)
}

fn host_port(key: &str, value: &str) -> Result<(String, u16), ConfigError> {
    value
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok().filter(|p| *p > 0)?)))
        .filter(|(h, _)| !h.is_empty())
        .ok_or_else(|| bad(key, value, "host:port"))
}

/// An http(s) URL.
fn http_url(key: &str, value: &str) -> Result<String, ConfigError> {
    if value.starts_with("https://") || value.starts_with("http://") {
        Ok(value.to_string())
    } else {
        Err(bad(key, value, "an http:// or https:// URL"))
    }
}

/// The whole, checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub workers_imap: usize,
    /// Redis URL; `None` for the embedded store.
    pub redis: Option<String>,
    pub data_dir: PathBuf,
    pub api: ApiConfig,
    pub service: ServiceConfig,
    pub log_level: String,
    pub log_format: LogFormat,
    /// `--settings` / `SETTINGS`, already validated.
    pub settings: Option<Settings>,
    pub queue: QueueConfig,
    pub ingest: IngestConfig,
    pub webhooks: WebhooksConfig,
    pub gmail: GmailConfig,
}

/// Flatten a TOML table into `section.key` → value text.
fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

fn parse_toml(text: &str, source: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| ConfigError(format!("{source}: {e}")))?;
    let mut out = BTreeMap::new();
    flatten("", &table, &mut out);
    Ok(out)
}

/// Parse a size such as `5M`, `512k`, `1G` or a plain byte count.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        (i, 'b' | 'B') => (&s[..i], 1),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// Parse a duration such as `10s`, `500ms`, `2m`; a plain number means seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).ok()
}

impl Config {
    /// Assemble the configuration from defaults, file, command line and environment
    /// (reading a `.env` file first, without overriding variables already set).
    pub fn load(cli: &Cli) -> Result<Config, ConfigError> {
        let _ = dotenvy::dotenv();
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Self::from_layers(cli, &env)
    }

    /// The layering itself, with the environment given explicitly (for tests).
    pub fn from_layers(cli: &Cli, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let mut values = parse_toml(DEFAULTS, "built-in defaults")?;
        let file = env
            .get("IMAPAPI_CONFIG")
            .cloned()
            .or_else(|| cli.config.clone());
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ConfigError(format!("--config={path}: {e}")))?;
            for (k, v) in parse_toml(&text, &path)? {
                if !OPTIONS.iter().any(|(o, _)| *o == k) {
                    return Err(ConfigError(format!("{path}: unknown option \"{k}\"")));
                }
                values.insert(k, v);
            }
        }
        for (key, var) in OPTIONS {
            if let Some(v) = cli.get(key) {
                values.insert(key.to_string(), v.to_string());
            }
            if let Some(v) = env.get(*var) {
                values.insert(key.to_string(), v.clone());
            }
        }
        Self::from_values(&values)
    }

    fn from_values(values: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let get = |k: &str| values.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
        let req = |k: &str| get(k).ok_or_else(|| ConfigError(format!("--{k} must be set")));
        let number = |k: &str| -> Result<u64, ConfigError> {
            let v = req(k)?;
            v.parse::<u64>().map_err(|_| bad(k, v, "a whole number"))
        };
        let duration = |k: &str| -> Result<Duration, ConfigError> {
            let v = req(k)?;
            parse_duration(v).ok_or_else(|| bad(k, v, "a duration such as 10s or 500ms"))
        };

        let workers_imap = number("workers.imap")?;
        if workers_imap == 0 || workers_imap > 1024 {
            return Err(bad(
                "workers.imap",
                req("workers.imap")?,
                "a number from 1 to 1024",
            ));
        }
        let port_text = req("api.port")?;
        let port = port_text
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("api.port", port_text, "a port number from 1 to 65535"))?;
        let metrics_port = match get("api.metricsPort") {
            None => None,
            Some(text) => Some(
                text.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| bad("api.metricsPort", text, "a port number from 1 to 65535"))?,
            ),
        };
        let size_text = req("api.maxSize")?;
        let max_size = parse_size(size_text)
            .ok_or_else(|| bad("api.maxSize", size_text, "a size such as 5M"))?;
        let auth = match get("api.auth") {
            None => None,
            Some(v) => {
                let (user, pass) = v
                    .split_once(':')
                    .filter(|(u, _)| !u.is_empty())
                    .ok_or_else(|| bad("api.auth", v, "user:pass"))?;
                Some(BasicAuth {
                    user: user.to_string(),
                    pass: Secret::new(pass),
                })
            }
        };
        let require_auth = match get("api.requireAuth") {
            None | Some("false") => false,
            Some("true") => true,
            Some(v) => return Err(bad("api.requireAuth", v, "true or false")),
        };
        let notify = match get("ingest.notify") {
            None | Some("true") => true,
            Some("false") => false,
            Some(v) => return Err(bad("ingest.notify", v, "true or false")),
        };
        let mut local_addresses = Vec::new();
        if let Some(list) = get("service.localAddresses") {
            for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (ip, hostname) = match item.split_once('|') {
                    Some((ip, host)) => (ip.trim(), Some(host.trim().to_string())),
                    None => (item, None),
                };
                let ip = ip.parse::<IpAddr>().map_err(|_| {
                    bad("service.localAddresses", item, "IP addresses (ip|hostname)")
                })?;
                local_addresses.push(LocalAddress { ip, hostname });
            }
        }
        let log_level = req("log.level")?.to_string();
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(bad(
                "log.level",
                &log_level,
                "error, warn, info, debug or trace",
            ));
        }
        let log_format = match req("log.format")? {
            "json" => LogFormat::Json,
            "text" => LogFormat::Text,
            other => return Err(bad("log.format", other, "json or text")),
        };
        let settings = match get("settings") {
            None => None,
            Some(json) => {
                let s: Settings = serde_json::from_str(json)
                    .map_err(|e| ConfigError(format!("--settings: {e}")))?;
                s.validate()
                    .map_err(|e| ConfigError(format!("--settings: {}", e.message)))?;
                Some(s)
            }
        };
        let queue_url = get("queue.url").map(str::to_string);
        let redis = get("dbs.redis").map(str::to_string);
        if let Some(u) = &redis
            && !(u.starts_with("redis://") || u.starts_with("rediss://"))
        {
            return Err(bad("dbs.redis", u, "a redis:// URL"));
        }
        if let Some(u) = &queue_url {
            check_queue_url(u, redis.is_some(), req("queue.prefix")?)?;
        }
        let max_attempts = number("queue.maxAttempts")?;
        if max_attempts == 0 || max_attempts > 100 {
            return Err(bad(
                "queue.maxAttempts",
                req("queue.maxAttempts")?,
                "1 to 100",
            ));
        }
        let submit_attempts = number("submit.maxAttempts")?;
        if submit_attempts == 0 || submit_attempts > 100 {
            return Err(bad(
                "submit.maxAttempts",
                req("submit.maxAttempts")?,
                "1 to 100",
            ));
        }
        let visibility = duration("queue.visibilityTimeout")?;
        if visibility < Duration::from_secs(3) || visibility > Duration::from_secs(43_200) {
            return Err(bad(
                "queue.visibilityTimeout",
                req("queue.visibilityTimeout")?,
                "3s to 12h",
            ));
        }
        let concurrency = number("webhooks.concurrency")?;
        if concurrency == 0 {
            return Err(bad("webhooks.concurrency", "0", "at least 1"));
        }
        let command_connections = number("ingest.commandConnections")?;
        if command_connections == 0 || command_connections > 64 {
            return Err(bad(
                "ingest.commandConnections",
                req("ingest.commandConnections")?,
                "1 to 64",
            ));
        }
        let command_connections_max = number("ingest.commandConnectionsMax")?;
        if command_connections_max == 0 {
            return Err(bad("ingest.commandConnectionsMax", "0", "at least 1"));
        }
        let emf = match get("ingest.emfNamespace").map(str::trim) {
            None | Some("") => None,
            Some(namespace) => Some(EmfMetric {
                namespace: namespace.to_string(),
                dimensions: emf_dimensions(get("ingest.emfDimensions").unwrap_or(""))?,
                interval: duration("ingest.emfInterval")?.max(Duration::from_secs(1)),
            }),
        };
        let message_cache = parse_size(req("ingest.messageCache")?).ok_or_else(|| {
            bad(
                "ingest.messageCache",
                get("ingest.messageCache").unwrap_or_default(),
                "a size such as 32M, or 0",
            )
        })?;
        let node_id = match get("ingest.nodeId") {
            Some(id) => id.to_string(),
            None => format!("ingest-{}", uuid::Uuid::new_v4().simple()),
        };
        Ok(Config {
            workers_imap: workers_imap as usize,
            redis,
            data_dir: PathBuf::from(req("dbs.path")?),
            api: ApiConfig {
                host: req("api.host")?.to_string(),
                port,
                metrics_port,
                max_size,
                auth,
                require_auth,
            },
            service: ServiceConfig {
                command_timeout: duration("service.commandTimeout")?,
                secret: get("service.secret").map(Secret::new),
                local_addresses,
            },
            log_level,
            log_format,
            settings,
            queue: QueueConfig {
                url: queue_url,
                prefix: req("queue.prefix")?.to_string(),
                retry: RetryPolicy {
                    max_attempts: max_attempts as u32,
                    base_delay: duration("queue.retryDelay")?,
                    max_delay: duration("queue.maxRetryDelay")?,
                    jitter: true,
                },
                submit_retry: RetryPolicy {
                    max_attempts: submit_attempts as u32,
                    base_delay: duration("submit.retryDelay")?,
                    max_delay: duration("queue.maxRetryDelay")?,
                    jitter: true,
                },
                visibility,
            },
            ingest: IngestConfig {
                node_id,
                lease_ttl: duration("ingest.leaseTtl")?,
                scan_interval: duration("ingest.scanInterval")?,
                command_connections: command_connections as usize,
                command_connections_max: command_connections_max as usize,
                command_idle: duration("ingest.commandIdle")?,
                notify,
                message_cache,
                idle_folders: idle_folders(get("ingest.idleFolders").unwrap_or(""))?,
                emf,
            },
            webhooks: WebhooksConfig {
                timeout: duration("webhooks.timeout")?,
                signing_key: get("webhooks.signingKey")
                    .filter(|k| !k.is_empty())
                    .map(Secret::new),
                concurrency: concurrency as usize,
                breaker_max_pause: duration("webhooks.breakerMaxPause")?
                    .max(Duration::from_millis(100)),
            },
            gmail: GmailConfig {
                auth_url: http_url("gmail.authUrl", req("gmail.authUrl")?)?,
                token_url: http_url("gmail.tokenUrl", req("gmail.tokenUrl")?)?,
                profile_url: http_url("gmail.profileUrl", req("gmail.profileUrl")?)?,
                imap: host_port("gmail.imap", req("gmail.imap")?)?,
                smtp: host_port("gmail.smtp", req("gmail.smtp")?)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("imapapi").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::from_layers(&cli(&[]), &BTreeMap::new()).unwrap();
        assert_eq!(c.api.port, 3000);
        assert_eq!(c.api.max_size, 5 << 20);
        assert_eq!(c.service.command_timeout, Duration::from_secs(10));
        assert!(c.redis.is_none() && c.queue.url.is_none());
    }

    #[test]
    fn env_beats_cli_beats_defaults() {
        let env = BTreeMap::from([("API_PORT".to_string(), "4000".to_string())]);
        let c =
            Config::from_layers(&cli(&["--api.port=3500", "--api.host", "0.0.0.0"]), &env).unwrap();
        assert_eq!(c.api.port, 4000);
        assert_eq!(c.api.host, "0.0.0.0");
    }

    #[test]
    fn default_webhook_retries_outlast_a_day_long_outage() {
        let c = Config::from_layers(&cli(&[]), &BTreeMap::new()).unwrap();
        let events = c.queue.retry;
        assert!(events.jitter);
        assert_eq!(events.max_delay, Duration::from_secs(3600));
        // Jitter draws each delay from its upper half: even the shortest schedule spans a day.
        assert!(
            events.span() / 2 >= Duration::from_secs(86_400),
            "{:?}",
            events.span()
        );
        let c = Config::from_layers(&cli(&["--queue.maxRetryDelay=5m"]), &BTreeMap::new()).unwrap();
        assert_eq!(c.queue.submit_retry.max_delay, Duration::from_secs(300));
    }

    #[test]
    fn notify_is_on_unless_turned_off() {
        let layers = |args: &[&str]| Config::from_layers(&cli(args), &BTreeMap::new());
        assert!(layers(&[]).unwrap().ingest.notify);
        assert!(!layers(&["--ingest.notify=false"]).unwrap().ingest.notify);
        let e = layers(&["--ingest.notify=maybe"]).unwrap_err().to_string();
        assert!(e.contains("ingest.notify"), "{e}");
        assert_eq!(layers(&[]).unwrap().ingest.message_cache, 32 << 20);
        assert_eq!(
            layers(&["--ingest.messageCache=0"])
                .unwrap()
                .ingest
                .message_cache,
            0
        );
        let e = layers(&["--ingest.messageCache=lots"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("ingest.messageCache"), "{e}");
    }

    #[test]
    fn idle_folders_are_special_uses_or_paths() {
        let layers = |args: &[&str]| Config::from_layers(&cli(args), &BTreeMap::new());
        assert!(layers(&[]).unwrap().ingest.idle_folders.is_empty());
        let ok = layers(&["--ingest.idleFolders=\\Sent, Projects/Alpha ,"]).unwrap();
        assert_eq!(ok.ingest.idle_folders, ["\\Sent", "Projects/Alpha"]);
        let e = layers(&["--ingest.idleFolders=\\Sent,\\Sant"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--ingest.idleFolders=\\Sant"), "{e}");
        assert!(e.contains("special use"), "{e}");
    }

    #[test]
    fn log_formats_are_json_or_text() {
        let layers = |args: &[&str]| Config::from_layers(&cli(args), &BTreeMap::new());
        assert_eq!(layers(&[]).unwrap().log_format, LogFormat::Json);
        assert_eq!(
            layers(&["--log.format=text"]).unwrap().log_format,
            LogFormat::Text
        );
        let e = layers(&["--log.format=xml"]).unwrap_err();
        assert!(e.to_string().contains("--log.format"), "{e}");
    }

    #[test]
    fn sqs_queue_urls_need_a_valid_prefix_and_a_redis() {
        let layers = |args: &[&str]| Config::from_layers(&cli(args), &BTreeMap::new());
        let ok = layers(&[
            "--queue.url=sqs://prod-mail",
            "--dbs.redis=redis://127.0.0.1",
        ])
        .unwrap();
        assert_eq!(ok.queue.url.as_deref(), Some("sqs://prod-mail"));
        layers(&["--queue.url=sqs://", "--dbs.redis=redis://127.0.0.1"]).unwrap();
        let e = layers(&["--queue.url=sqs://a.b", "--dbs.redis=redis://127.0.0.1"]).unwrap_err();
        assert!(
            e.to_string().contains("--queue.url") && e.to_string().contains("letters"),
            "{e}"
        );
        let e = layers(&["--queue.url=sqs://prod"]).unwrap_err();
        assert!(e.to_string().contains("--dbs.redis"), "{e}");
        let e = layers(&["--queue.url=http://x"]).unwrap_err();
        assert!(e.to_string().contains("sqs://"), "{e}");
    }

    #[test]
    fn bad_values_name_the_option() {
        let e = Config::from_layers(&cli(&["--api.port=abc"]), &BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("--api.port"), "{e}");
        let e = Config::from_layers(&cli(&["--service.commandTimeout=soon"]), &BTreeMap::new())
            .unwrap_err();
        assert!(e.to_string().contains("--service.commandTimeout"), "{e}");
        let e = Config::from_layers(
            &cli(&["--settings={\"webhooks\":\"ftp://x\"}"]),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("webhooks"), "{e}");
    }

    #[test]
    fn reads_a_config_file_below_cli_and_env() {
        let dir = std::env::temp_dir().join(format!("imapapi-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("imapapi.toml");
        std::fs::write(
            &file,
            "[api]\nport = 4100\nhost = \"0.0.0.0\"\n[log]\nlevel = \"debug\"\n",
        )
        .unwrap();
        let path = file.display().to_string();
        let c = Config::from_layers(
            &cli(&["--config", &path, "--api.host=127.0.0.2"]),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(c.api.port, 4100, "file beats defaults");
        assert_eq!(c.api.host, "127.0.0.2", "command line beats file");
        assert_eq!(c.log_level, "debug");
        std::fs::write(&file, "[api]\nprot = 1\n").unwrap();
        let e = Config::from_layers(&cli(&["--config", &path]), &BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("api.prot"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn secrets_are_not_echoed() {
        let e = Config::from_layers(&cli(&["--api.auth=nocolon"]), &BTreeMap::new()).unwrap_err();
        assert!(!e.to_string().contains("nocolon"));
    }

    #[test]
    fn parses_local_addresses_with_hostnames() {
        let c = Config::from_layers(
            &cli(&["--service.localAddresses=127.0.0.1,127.0.0.2|mx.example.com"]),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(c.service.local_addresses.len(), 2);
        assert_eq!(
            c.service.local_addresses[1].hostname.as_deref(),
            Some("mx.example.com")
        );
    }
}
