//! The SQS-compatible server and the Redis the SQS bus tests use: moto's server at
//! `IMAPAPI_TEST_SQS` (default `http://127.0.0.1:4566`, started by `infra/services.sh`) with
//! dummy credentials, and Redis at `IMAPAPI_TEST_REDIS` (default `redis://127.0.0.1:6379/`; every key and channel carries the test's prefix).

/// A client for the local SQS server.
pub fn sqs_client() -> aws_sdk_sqs::Client {
    let endpoint =
        std::env::var("IMAPAPI_TEST_SQS").unwrap_or_else(|_| "http://127.0.0.1:4566".to_string());
    imapapi_common::bus::sqs::local_client(&endpoint)
}

/// A client for the test Redis.
pub fn redis_client() -> redis::Client {
    let url = std::env::var("IMAPAPI_TEST_REDIS")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_string());
    redis::Client::open(url).expect("a valid IMAPAPI_TEST_REDIS URL")
}

/// A prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}
