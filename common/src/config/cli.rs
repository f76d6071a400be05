//! The command line: an optional role subcommand and `--section.key=value` options.

use clap::{Parser, Subcommand};

/// Which role(s) this process runs.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Role {
    /// The REST api only.
    Api,
    /// IMAP sessions, sync and change events only.
    Ingest,
    /// Webhook delivery only.
    Dispatch,
    /// Sending queued messages over SMTP only.
    Submit,
    /// Create an access token for the REST api and print it (the first one of a gateway
    /// with --api.requireAuth, for instance).
    Token {
        /// What it may do: api, read or account:<id>; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// What it is for.
        #[arg(long, default_value = "created with imapapi token")]
        description: String,
        /// How long it works, such as 30d; forever when absent.
        #[arg(long)]
        ttl: Option<String>,
    },
    /// Encrypt stored account secrets with --service.secret (decrypting with --decrypt).
    Encrypt {
        /// The previous secret, to decrypt values encrypted with it.
        #[arg(long)]
        decrypt: Option<String>,
    },
}

/// imapapi: IMAP and SMTP accounts over REST, changes as webhooks and queue events.
///
/// Without a subcommand every role runs in this one process. Environment variables
/// override command-line options, which override the config file.
#[derive(Debug, Clone, Parser, Default)]
#[command(
    name = "imapapi",
    version,
    about = "imapapi: IMAP and SMTP accounts over REST, changes as webhooks and queue events",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub role: Option<Role>,

    /// TOML config file [env: IMAPAPI_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<String>,
    /// IMAP worker count [env: WORKERS_IMAP] [default: 4]
    #[arg(long = "workers.imap", global = true, value_name = "N")]
    pub workers_imap: Option<String>,
    /// Redis connection URL; unset runs on the embedded store [env: REDIS_URL]
    #[arg(long = "dbs.redis", global = true, value_name = "URL")]
    pub dbs_redis: Option<String>,
    /// Directory of the embedded store and queues [env: DATA_DIR] [default: data]
    #[arg(long = "dbs.path", global = true, value_name = "DIR")]
    pub dbs_path: Option<String>,
    /// Host to bind the REST api to [env: API_HOST] [default: 127.0.0.1]
    #[arg(long = "api.host", global = true, value_name = "HOST")]
    pub api_host: Option<String>,
    /// For a process without the api role: port of api.host serving GET /metrics [env: API_METRICS_PORT]
    #[arg(long = "api.metricsPort", global = true, value_name = "PORT")]
    pub api_metrics_port: Option<String>,
    /// Port to bind the REST api to [env: API_PORT] [default: 3000]
    #[arg(long = "api.port", global = true, value_name = "PORT")]
    pub api_port: Option<String>,
    /// Max request body / attachment size [env: API_MAX_SIZE] [default: 5M]
    #[arg(long = "api.maxSize", global = true, value_name = "SIZE")]
    pub api_max_size: Option<String>,
    /// API basic auth as user:pass [env: IMAPAPI_AUTH]
    #[arg(long = "api.auth", global = true, value_name = "USER:PASS")]
    pub api_auth: Option<String>,
    /// Refuse requests without credentials (basic auth or an access token), also when
    /// api.auth is unset [env: API_REQUIRE_AUTH] [default: false]
    #[arg(long = "api.requireAuth", global = true, value_name = "BOOL")]
    pub api_require_auth: Option<String>,
    /// Max command duration [env: COMMAND_TIMEOUT] [default: 10s]
    #[arg(
        long = "service.commandTimeout",
        global = true,
        value_name = "DURATION"
    )]
    pub service_command_timeout: Option<String>,
    /// Encryption secret for stored passwords [env: IMAPAPI_SECRET]
    #[arg(long = "service.secret", global = true, value_name = "SECRET")]
    pub service_secret: Option<String>,
    /// Local addresses for outbound connections, "ip1,ip2|hostname2" [env: LOCAL_ADDRESSES]
    #[arg(long = "service.localAddresses", global = true, value_name = "LIST")]
    pub service_local_addresses: Option<String>,
    /// Log level: error, warn, info, debug, trace [env: LOG_LEVEL] [default: info]
    #[arg(long = "log.level", global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log format: json (one object per line) or text (human-readable) [env: LOG_FORMAT] [default: json]
    #[arg(long = "log.format", global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Prepared settings as JSON, applied at start [env: SETTINGS]
    #[arg(long, global = true, value_name = "JSON")]
    pub settings: Option<String>,
    /// Queue URL: amqp://… for RabbitMQ, sqs://<queue name prefix> for Amazon SQS (needs dbs.redis); unset runs in-process queues [env: QUEUE_URL]
    #[arg(long = "queue.url", global = true, value_name = "URL")]
    pub queue_url: Option<String>,
    /// Prefix of queue and exchange names [env: QUEUE_PREFIX] [default: imapapi]
    #[arg(long = "queue.prefix", global = true, value_name = "NAME")]
    pub queue_prefix: Option<String>,
    /// Delivery attempts before dead-lettering [env: QUEUE_MAX_ATTEMPTS] [default: 60]
    #[arg(long = "queue.maxAttempts", global = true, value_name = "N")]
    pub queue_max_attempts: Option<String>,
    /// Longest single retry delay, webhooks and sends [env: QUEUE_MAX_RETRY_DELAY] [default: 1h]
    #[arg(long = "queue.maxRetryDelay", global = true, value_name = "DURATION")]
    pub queue_max_retry_delay: Option<String>,
    /// First retry delay, doubled per attempt [env: QUEUE_RETRY_DELAY] [default: 2s]
    #[arg(long = "queue.retryDelay", global = true, value_name = "DURATION")]
    pub queue_retry_delay: Option<String>,
    /// SQS only: how long a received message stays hidden, renewed while it is worked on;
    /// a crashed consumer's messages come back after it [env: QUEUE_VISIBILITY_TIMEOUT]
    /// [default: 30s]
    #[arg(
        long = "queue.visibilityTimeout",
        global = true,
        value_name = "DURATION"
    )]
    pub queue_visibility_timeout: Option<String>,
    /// Send attempts before giving a message up [env: SUBMIT_MAX_ATTEMPTS] [default: 10]
    #[arg(long = "submit.maxAttempts", global = true, value_name = "N")]
    pub submit_max_attempts: Option<String>,
    /// First send retry delay, doubled per attempt, with jitter [env: SUBMIT_RETRY_DELAY]
    /// [default: 30s]
    #[arg(long = "submit.retryDelay", global = true, value_name = "DURATION")]
    pub submit_retry_delay: Option<String>,
    /// Ingest node id on the bus; empty: random [env: INGEST_NODE_ID]
    #[arg(long = "ingest.nodeId", global = true, value_name = "ID")]
    pub ingest_node_id: Option<String>,
    /// Account lease duration [env: INGEST_LEASE_TTL] [default: 30s]
    #[arg(long = "ingest.leaseTtl", global = true, value_name = "DURATION")]
    pub ingest_lease_ttl: Option<String>,
    /// How often ingest scans for account changes [env: INGEST_SCAN_INTERVAL] [default: 1s]
    #[arg(long = "ingest.scanInterval", global = true, value_name = "DURATION")]
    pub ingest_scan_interval: Option<String>,
    /// Command connections per account [env: INGEST_COMMAND_CONNECTIONS] [default: 4]
    #[arg(long = "ingest.commandConnections", global = true, value_name = "N")]
    pub ingest_command_connections: Option<String>,
    /// Command connections on this node, all accounts [env: INGEST_COMMAND_CONNECTIONS_MAX] [default: 500]
    #[arg(long = "ingest.commandConnectionsMax", global = true, value_name = "N")]
    pub ingest_command_connections_max: Option<String>,
    /// Idle time before a command connection is closed [env: INGEST_COMMAND_IDLE] [default: 2m]
    #[arg(long = "ingest.commandIdle", global = true, value_name = "DURATION")]
    pub ingest_command_idle: Option<String>,
    /// Hear of changes in every folder at once where the IMAP server has NOTIFY; false: IDLE on INBOX and the periodic resync only [env: INGEST_NOTIFY] [default: true]
    #[arg(long = "ingest.notify", global = true, value_name = "BOOL")]
    pub ingest_notify: Option<String>,
    /// Memory for decoded messages, so listings and details of mail already read ask the server for flags only; 0: off [env: INGEST_MESSAGE_CACHE] [default: 32M]
    #[arg(long = "ingest.messageCache", global = true, value_name = "SIZE")]
    pub ingest_message_cache: Option<String>,
    /// Without NOTIFY, folders that get an IDLE connection of their own besides INBOX, by special use or path: "\\Sent,Archive"; an account's imap.idleFolders replaces it [env: INGEST_IDLE_FOLDERS] [default: none]
    #[arg(long = "ingest.idleFolders", global = true, value_name = "LIST")]
    pub ingest_idle_folders: Option<String>,
    /// Publish the accounts this process holds as the CloudWatch metric <NAMESPACE>/OwnedAccounts (Embedded Metric Format on stdout); unset: off [env: INGEST_EMF_NAMESPACE]
    #[arg(long = "ingest.emfNamespace", global = true, value_name = "NAMESPACE")]
    pub ingest_emf_namespace: Option<String>,
    /// Dimensions of that metric, "Name=value,…" [env: INGEST_EMF_DIMENSIONS]
    #[arg(long = "ingest.emfDimensions", global = true, value_name = "LIST")]
    pub ingest_emf_dimensions: Option<String>,
    /// How often that metric is written [env: INGEST_EMF_INTERVAL] [default: 60s]
    #[arg(long = "ingest.emfInterval", global = true, value_name = "DURATION")]
    pub ingest_emf_interval: Option<String>,
    /// Webhook request timeout [env: WEBHOOKS_TIMEOUT] [default: 10s]
    #[arg(long = "webhooks.timeout", global = true, value_name = "DURATION")]
    pub webhooks_timeout: Option<String>,
    /// Webhook requests in flight [env: WEBHOOKS_CONCURRENCY] [default: 16]
    #[arg(long = "webhooks.concurrency", global = true, value_name = "N")]
    pub webhooks_concurrency: Option<String>,
    /// Key that signs every webhook (X-Webhook-Signature: sha256=HMAC of the body); unset: unsigned [env: WEBHOOKS_SIGNING_KEY]
    #[arg(long = "webhooks.signingKey", global = true, value_name = "KEY")]
    pub webhooks_signing_key: Option<String>,
    /// Longest pause of a failing webhook receiver between probes [env: WEBHOOKS_BREAKER_MAX_PAUSE] [default: 5m]
    #[arg(
        long = "webhooks.breakerMaxPause",
        global = true,
        value_name = "DURATION"
    )]
    pub webhooks_breaker_max_pause: Option<String>,
    /// Gmail OAuth2 consent URL [env: GMAIL_AUTH_URL] [default: Google's]
    #[arg(long = "gmail.authUrl", global = true, value_name = "URL")]
    pub gmail_auth_url: Option<String>,
    /// Gmail OAuth2 token URL [env: GMAIL_TOKEN_URL] [default: Google's]
    #[arg(long = "gmail.tokenUrl", global = true, value_name = "URL")]
    pub gmail_token_url: Option<String>,
    /// Gmail profile URL (the consenting address) [env: GMAIL_PROFILE_URL] [default: Google's]
    #[arg(long = "gmail.profileUrl", global = true, value_name = "URL")]
    pub gmail_profile_url: Option<String>,
    /// IMAP server of Gmail OAuth2 accounts [env: GMAIL_IMAP] [default: imap.gmail.com:993]
    #[arg(long = "gmail.imap", global = true, value_name = "HOST:PORT")]
    pub gmail_imap: Option<String>,
    /// SMTP server of Gmail OAuth2 accounts [env: GMAIL_SMTP] [default: smtp.gmail.com:465]
    #[arg(long = "gmail.smtp", global = true, value_name = "HOST:PORT")]
    pub gmail_smtp: Option<String>,
}

impl Cli {
    /// The value given on the command line for a `section.key` option.
    pub fn get(&self, key: &str) -> Option<&str> {
        let v = match key {
            "workers.imap" => &self.workers_imap,
            "dbs.redis" => &self.dbs_redis,
            "dbs.path" => &self.dbs_path,
            "api.host" => &self.api_host,
            "api.port" => &self.api_port,
            "api.metricsPort" => &self.api_metrics_port,
            "api.maxSize" => &self.api_max_size,
            "api.auth" => &self.api_auth,
            "api.requireAuth" => &self.api_require_auth,
            "service.commandTimeout" => &self.service_command_timeout,
            "service.secret" => &self.service_secret,
            "service.localAddresses" => &self.service_local_addresses,
            "log.level" => &self.log_level,
            "log.format" => &self.log_format,
            "settings" => &self.settings,
            "queue.url" => &self.queue_url,
            "queue.prefix" => &self.queue_prefix,
            "queue.maxAttempts" => &self.queue_max_attempts,
            "queue.retryDelay" => &self.queue_retry_delay,
            "queue.maxRetryDelay" => &self.queue_max_retry_delay,
            "queue.visibilityTimeout" => &self.queue_visibility_timeout,
            "submit.maxAttempts" => &self.submit_max_attempts,
            "submit.retryDelay" => &self.submit_retry_delay,
            "ingest.nodeId" => &self.ingest_node_id,
            "ingest.leaseTtl" => &self.ingest_lease_ttl,
            "ingest.scanInterval" => &self.ingest_scan_interval,
            "ingest.commandConnections" => &self.ingest_command_connections,
            "ingest.commandConnectionsMax" => &self.ingest_command_connections_max,
            "ingest.commandIdle" => &self.ingest_command_idle,
            "ingest.notify" => &self.ingest_notify,
            "ingest.messageCache" => &self.ingest_message_cache,
            "ingest.idleFolders" => &self.ingest_idle_folders,
            "ingest.emfNamespace" => &self.ingest_emf_namespace,
            "ingest.emfDimensions" => &self.ingest_emf_dimensions,
            "ingest.emfInterval" => &self.ingest_emf_interval,
            "webhooks.timeout" => &self.webhooks_timeout,
            "webhooks.signingKey" => &self.webhooks_signing_key,
            "webhooks.breakerMaxPause" => &self.webhooks_breaker_max_pause,
            "webhooks.concurrency" => &self.webhooks_concurrency,
            "gmail.authUrl" => &self.gmail_auth_url,
            "gmail.tokenUrl" => &self.gmail_token_url,
            "gmail.profileUrl" => &self.gmail_profile_url,
            "gmail.imap" => &self.gmail_imap,
            "gmail.smtp" => &self.gmail_smtp,
            _ => return None,
        };
        v.as_deref()
    }
}
