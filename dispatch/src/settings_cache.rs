//! The webhook settings (URL and event filter) as dispatch sees them. Exists because every
//! event needs them and reading the store per event would put a store round trip on the
//! latency path and load the store in proportion to mail traffic; instead the settings are
//! read at most about once per `max_age`, and a change made through the api is picked up
//! within that time.

use std::sync::Arc;
use std::time::Duration;

use imapapi_common::model::Settings;
use imapapi_common::store::{SettingsStore, StoreError};
use tokio::sync::Mutex;
use tokio::time::Instant;

use imapapi_common::webhook::{Target, WebhookError};

/// What the worker needs from the settings, parsed once per read rather than per event.
#[derive(Debug)]
pub struct Snapshot {
    pub settings: Settings,
    /// `None` when no webhook URL is set (or it is empty: cleared).
    pub target: Option<Result<Target, Arc<WebhookError>>>,
}

impl Snapshot {
    fn new(settings: Settings) -> Snapshot {
        let target = settings
            .webhooks
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| Target::parse(u).map_err(Arc::new));
        Snapshot { settings, target }
    }
}

struct Cached {
    read_at: Instant,
    snapshot: Arc<Snapshot>,
}

/// Settings read from the store at most once per `max_age`.
pub struct SettingsCache {
    store: Arc<dyn SettingsStore>,
    max_age: Duration,
    // A tokio mutex held across the store read: when the entry expires, concurrent workers
    // wait for one read instead of each issuing their own.
    cached: Mutex<Option<Cached>>,
}

impl SettingsCache {
    pub fn new(store: Arc<dyn SettingsStore>, max_age: Duration) -> SettingsCache {
        SettingsCache {
            store,
            max_age,
            cached: Mutex::new(None),
        }
    }

    /// The current settings. When the store cannot be read, the last known settings are
    /// used (and the read is tried again after `max_age`); with none known, the error.
    pub async fn get(&self) -> Result<Arc<Snapshot>, StoreError> {
        let mut cached = self.cached.lock().await;
        let now = Instant::now();
        if let Some(c) = cached.as_ref()
            && now.duration_since(c.read_at) < self.max_age
        {
            return Ok(c.snapshot.clone());
        }
        match self.store.get_settings().await {
            Ok(settings) => {
                let snapshot = Arc::new(Snapshot::new(settings));
                if let Some(Err(e)) = &snapshot.target {
                    tracing::error!(error = %e, "webhook URL in settings is unusable");
                }
                *cached = Some(Cached {
                    read_at: now,
                    snapshot: snapshot.clone(),
                });
                Ok(snapshot)
            }
            Err(e) => match cached.as_mut() {
                Some(c) => {
                    tracing::warn!(error = %e, "cannot read settings; using the last known");
                    c.read_at = now;
                    Ok(c.snapshot.clone())
                }
                None => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use imapapi_common::store::SettingsStore;

    use super::*;
    use crate::test_store::CountingStore;

    fn with_url(url: &str) -> Settings {
        Settings {
            webhooks: Some(url.into()),
            ..Settings::default()
        }
    }

    #[tokio::test]
    async fn reads_the_store_at_most_once_per_max_age() {
        let store = Arc::new(CountingStore::default());
        store.put_settings(&with_url("http://a/")).await.unwrap();
        // Real time (tokio's test clock would need another tokio build): a max_age with room
        // for a slow machine.
        let cache = Arc::new(SettingsCache::new(
            store.clone(),
            Duration::from_millis(400),
        ));

        // A burst of concurrent lookups costs one read.
        let lookups: Vec<_> = (0..50)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get().await.unwrap() })
            })
            .collect();
        for l in lookups {
            l.await.unwrap();
        }
        assert_eq!(store.reads.load(Ordering::SeqCst), 1);

        // A change shows up once the entry is older than max_age, not before.
        store.put_settings(&with_url("http://b/")).await.unwrap();
        let s = cache.get().await.unwrap();
        assert_eq!(s.settings.webhooks.as_deref(), Some("http://a/"));
        tokio::time::sleep(Duration::from_millis(450)).await;
        let s = cache.get().await.unwrap();
        assert_eq!(s.settings.webhooks.as_deref(), Some("http://b/"));
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn keeps_the_last_settings_while_the_store_is_down() {
        let store = Arc::new(CountingStore::default());
        let cache = SettingsCache::new(store.clone(), Duration::from_millis(50));
        store.failing.store(true, Ordering::SeqCst);
        assert!(cache.get().await.is_err(), "nothing known yet");

        store.failing.store(false, Ordering::SeqCst);
        store.put_settings(&with_url("http://a/")).await.unwrap();
        assert!(matches!(cache.get().await.unwrap().target, Some(Ok(_))));

        store.failing.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let s = cache.get().await.unwrap();
        assert_eq!(s.settings.webhooks.as_deref(), Some("http://a/"));
    }

    #[test]
    fn an_empty_url_means_no_webhook() {
        assert!(Snapshot::new(with_url("  ")).target.is_none());
        assert!(Snapshot::new(Settings::default()).target.is_none());
        assert!(matches!(
            Snapshot::new(with_url("ftp://x")).target,
            Some(Err(_))
        ));
    }
}
