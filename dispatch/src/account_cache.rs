//! An event's account as dispatch sees it: whether it still exists, and its own webhook URL
//! if it has one. An event published just before its account was deleted must not reach
//! the webhook afterwards (the receiver would hear of an account that is gone), so each
//! delivery checks. Reading the store per event
//! would put a round trip on the latency path and load the store in proportion to mail
//! traffic; instead each account's answer is kept for `max_age`, so a deletion stops that
//! account's deliveries within about that time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use imapapi_common::store::{AccountStore, StoreError};
use tokio::time::Instant;

use imapapi_common::webhook::{Target, WebhookError};

/// What dispatch needs of an existing account.
#[derive(Debug)]
pub struct AccountHooks {
    /// The account's own webhook URL, parsed; `None`: the `webhooks` setting applies.
    pub target: Option<Result<Target, Arc<WebhookError>>>,
}

impl AccountHooks {
    fn new(webhooks: Option<&str>) -> AccountHooks {
        let target = webhooks
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| Target::parse(u).map_err(Arc::new));
        AccountHooks { target }
    }
}

/// Past this many remembered accounts, expired answers are forgotten, so the map holds
/// roughly the accounts with traffic in the last `max_age` rather than every account ever
/// seen.
const PRUNE_ABOVE: usize = 10_000;

/// One remembered answer.
#[derive(Debug, Clone)]
struct Known {
    read_at: Instant,
    /// `None`: the account does not exist.
    account: Option<Arc<AccountHooks>>,
}

/// Accounts read from the store at most once per account per `max_age`.
pub struct AccountCache {
    store: Arc<dyn AccountStore>,
    max_age: Duration,
    // A plain mutex, never held across the store read: concurrent misses for one account
    // may each read, which costs less than making every lookup wait on one lock.
    known: Mutex<HashMap<String, Known>>,
}

impl AccountCache {
    /// A cache over `store` whose answers are trusted for `max_age`.
    pub fn new(store: Arc<dyn AccountStore>, max_age: Duration) -> AccountCache {
        AccountCache {
            store,
            max_age,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The account, or `None` when it does not exist. When the store cannot be read, the
    /// last answer is used however old (and the read is tried again after `max_age`);
    /// with none, the error.
    pub async fn get(&self, account: &str) -> Result<Option<Arc<AccountHooks>>, StoreError> {
        let now = Instant::now();
        let last = self.lookup(account);
        if let Some(k) = &last
            && now.duration_since(k.read_at) < self.max_age
        {
            return Ok(k.account.clone());
        }
        match self.store.get_account(account).await {
            Ok(record) => {
                let hooks = record.map(|r| Arc::new(AccountHooks::new(r.webhooks.as_deref())));
                self.remember(
                    account,
                    Known {
                        read_at: now,
                        account: hooks.clone(),
                    },
                );
                Ok(hooks)
            }
            Err(e) => match last {
                Some(k) => {
                    tracing::warn!(account, error = %e, "cannot read account; using the last known");
                    let hooks = k.account.clone();
                    self.remember(account, Known { read_at: now, ..k });
                    Ok(hooks)
                }
                None => Err(e),
            },
        }
    }

    /// Whether `account` exists (see [`AccountCache::get`]).
    pub async fn exists(&self, account: &str) -> Result<bool, StoreError> {
        Ok(self.get(account).await?.is_some())
    }

    fn lookup(&self, account: &str) -> Option<Known> {
        self.lock().get(account).cloned()
    }

    fn remember(&self, account: &str, known: Known) {
        let mut map = self.lock();
        if map.len() >= PRUNE_ABOVE {
            let max_age = self.max_age;
            map.retain(|_, k| known.read_at.duration_since(k.read_at) < max_age);
        }
        map.insert(account.to_string(), known);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Known>> {
        // A panic while holding the lock leaves the map consistent (single inserts).
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::test_store::CountingStore;

    #[tokio::test]
    async fn reads_each_account_at_most_once_per_max_age() {
        let store = Arc::new(CountingStore::default());
        store.add_account("a");
        // Real time, with room for a slow machine (as in the settings cache tests).
        let cache = AccountCache::new(store.clone(), Duration::from_millis(400));

        for _ in 0..20 {
            assert!(cache.exists("a").await.unwrap());
            assert!(!cache.exists("b").await.unwrap());
        }
        assert_eq!(
            store.reads.load(Ordering::SeqCst),
            2,
            "one read per account"
        );

        // A deletion is seen once the answer is older than max_age, not before.
        store.remove_account("a");
        assert!(cache.exists("a").await.unwrap());
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert!(!cache.exists("a").await.unwrap());
        assert_eq!(store.reads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn keeps_the_last_answer_while_the_store_is_down() {
        let store = Arc::new(CountingStore::default());
        store.add_account("a");
        let cache = AccountCache::new(store.clone(), Duration::from_millis(20));
        assert!(cache.exists("a").await.unwrap());

        store.failing.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(cache.exists("a").await.unwrap(), "last known answer");
        assert!(cache.exists("never-seen").await.is_err(), "nothing known");
    }
}
