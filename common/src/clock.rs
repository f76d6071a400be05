//! Wall-clock time as Unix milliseconds, the unit of every stored expiry (leases, tokens,
//! idempotency keys, OAuth2 grants), in one place so they all read the clock the same way.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 for a clock set before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
