//! The commits of a folder sync: its state and index written in batches, fenced by the
//! lease, each after the events of the changes it records are published.

use imapapi_common::model::{Event, FolderState};

use super::{COMMIT_BATCH, SyncCtx, SyncError};
use crate::events;
use crate::index::FolderIndex;

/// Events held for one publish at most: those of a commit batch go out together before its
/// commit, in several publishes when there are more (bounding what waits in memory).
const EVENT_BATCH: usize = 1_000;

/// Writes a folder's state and index in batches, fenced by the lease, each commit after
/// the events of its changes are published (as one batch: one store and one bus round trip
/// rather than one each per event).
pub(super) struct Committer<'a> {
    ctx: &'a SyncCtx<'a>,
    /// Reset pending: the first commit drops the old chunks.
    reset: bool,
    pending: usize,
    /// The generation of the state last committed (or loaded): what changes found now are
    /// found from, and so part of their event ids.
    generation: u64,
    /// Events of the changes applied since the last commit and not published yet.
    events: Vec<Event>,
}

impl<'a> Committer<'a> {
    /// A committer for a folder whose state was last committed (or loaded) at
    /// `generation`; `reset` drops the folder's old chunks at the first commit.
    pub(super) fn new(ctx: &'a SyncCtx<'a>, reset: bool, generation: u64) -> Self {
        Committer {
            ctx,
            reset,
            pending: 0,
            generation,
            events: Vec::new(),
        }
    }

    /// The generation of the state last committed.
    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// Hold `event` for the publish before the next commit.
    pub(super) async fn announce(&mut self, event: Event) -> Result<(), SyncError> {
        self.events.push(event);
        if self.events.len() >= EVENT_BATCH {
            self.publish().await?;
        }
        Ok(())
    }

    /// Publish the events held. Dropped on failure: the sync fails before the commit, and
    /// the next one finds the same changes and announces them again under the same ids.
    pub(super) async fn publish(&mut self) -> Result<(), SyncError> {
        if !self.events.is_empty() {
            events::publish_all(self.ctx.services, std::mem::take(&mut self.events)).await?;
        }
        Ok(())
    }

    pub(super) async fn commit(
        &mut self,
        state: &FolderState,
        index: &mut FolderIndex,
    ) -> Result<(), SyncError> {
        // Published before the commit that records their changes (at-least-once).
        self.publish().await?;
        let chunks = index.take_dirty();
        let generation = self.generation + 1;
        let state = FolderState {
            generation,
            ..state.clone()
        };
        let ok = self
            .ctx
            .store()
            .commit_folder(self.ctx.account, self.ctx.node, &state, self.reset, &chunks)
            .await?;
        if !ok {
            return Err(SyncError::LeaseLost);
        }
        self.reset = false;
        self.pending = 0;
        self.generation = generation;
        Ok(())
    }

    /// Count one applied change; commit when a batch is full.
    pub(super) async fn step(
        &mut self,
        state: &FolderState,
        index: &mut FolderIndex,
    ) -> Result<(), SyncError> {
        self.pending += 1;
        if self.pending >= COMMIT_BATCH {
            let mut s = state.clone();
            s.messages = index.len() as u32;
            self.commit(&s, index).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use imapapi_common::Services;
    use imapapi_common::bus::QueueName;
    use imapapi_common::model::Settings;

    use super::super::tests::state;
    use super::*;
    use crate::events::FolderRef;

    /// Services on a temporary directory (embedded store and bus), with account `acc` whose
    /// lease `node` holds.
    async fn services(dir: &std::path::Path) -> Services {
        use imapapi_common::config::{Cli, Config};
        let layers = BTreeMap::from([("DATA_DIR".to_string(), dir.display().to_string())]);
        let config = Config::from_layers(&Cli::default(), &layers).unwrap();
        let store = imapapi_common::store::open(&config).await.unwrap();
        let bus = imapapi_common::bus::connect(&config).await.unwrap();
        let account = serde_json::from_value(serde_json::json!({
            "account": "acc", "name": "Acc",
            "imap": {"host": "127.0.0.1", "port": 1, "auth": {"user": "u", "pass": "p"}}
        }))
        .unwrap();
        store.put_account(&account).await.unwrap();
        let ttl = std::time::Duration::from_secs(60);
        assert!(store.acquire_lease("acc", "node", ttl).await.unwrap());
        Services::new(std::sync::Arc::new(config), store, bus)
    }

    /// The numbers of the account's recorded changes, read page by page.
    async fn recorded(services: &Services) -> Vec<u64> {
        let mut numbers: Vec<u64> = Vec::new();
        loop {
            let since = numbers.last().copied().unwrap_or(0);
            let page = services
                .store
                .changes_since("acc", since, 1000)
                .await
                .unwrap();
            numbers.extend(page.changes.iter().map(|c| c.seq));
            if !page.has_more {
                return numbers;
            }
        }
    }

    #[tokio::test]
    async fn a_commit_publishes_its_events_as_one_batch_first() {
        let dir = tempfile::tempdir().unwrap();
        let services = services(dir.path()).await;
        let settings = Settings::default();
        let ctx = SyncCtx {
            services: &services,
            node: "node",
            account: "acc",
            settings: &settings,
            notify_from: None,
        };
        let mut committer = Committer {
            ctx: &ctx,
            reset: true,
            pending: 0,
            generation: 0,
            events: Vec::new(),
        };
        let fref = FolderRef {
            account: "acc",
            path: "INBOX",
            special_use: None,
            uid_validity: 7,
        };
        let mut index = FolderIndex::new();
        for uid in 1..=3 {
            index.set(uid, &crate::message_flags::MessageFlags::new());
            let event = events::message_deleted(&fref, 1, uid);
            committer.announce(event).await.unwrap();
        }
        assert!(
            recorded(&services).await.is_empty(),
            "held until the commit"
        );
        let mut state = state(7, false);
        committer.commit(&state, &mut index).await.unwrap();
        let numbers = recorded(&services).await;
        assert_eq!(numbers.len(), 3);
        let mut queue = services.bus.consume(QueueName::Events, 10).await.unwrap();
        for (uid, number) in (1..=3).zip(&numbers) {
            let d = tokio::time::timeout(std::time::Duration::from_secs(10), queue.next())
                .await
                .unwrap()
                .unwrap();
            let event: serde_json::Value = serde_json::from_slice(&d.message.body).unwrap();
            assert_eq!(event["data"]["uid"], uid, "in the order announced");
            assert_eq!(event["state"], number.to_string());
            d.ack().await.unwrap();
        }
        let stored = services.store.list_folders("acc").await.unwrap();
        assert_eq!(stored.len(), 1, "committed after");

        // A long run goes out in bounded publishes before its commit.
        for uid in 0..=EVENT_BATCH as u32 {
            let event = events::message_deleted(&fref, 1, 100 + uid);
            committer.announce(event).await.unwrap();
        }
        assert_eq!(recorded(&services).await.len(), 3 + EVENT_BATCH);
        assert_eq!(committer.events.len(), 1);
        state.uid_next = 200;
        committer.commit(&state, &mut index).await.unwrap();
        assert_eq!(recorded(&services).await.len(), 4 + EVENT_BATCH);
    }
}
