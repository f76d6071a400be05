//! One conformance suite for every `Store` backend: each test is written once against
//! `SharedStore` and instantiated for the embedded redb store (in a temp dir) and for Redis
//! (`IMAPAPI_TEST_REDIS`, default `redis://127.0.0.1:6379/`, a unique key prefix per test,
//! its keys removed when the test ends, even on failure).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use imapapi_common::counters::minute_of;
use imapapi_common::model::{
    AccountConfig, AccountState, AccountStatus, AuthConfig, Envelope, FolderState, ImapConfig,
    OutboxEntry, OutboxState, Secret, SentReference, Settings,
};
use imapapi_common::store::counters::COUNTER_RETENTION_MINUTES;
use imapapi_common::store::embedded::EmbeddedStore;
use imapapi_common::store::redis::RedisStore;
use imapapi_common::store::{IndexChunk, IndexChunkUpdate, SharedStore};

/// A store under test plus whatever must outlive it (temp dir) or run after it (Redis cleanup).
struct Fixture {
    store: SharedStore,
    redis: Option<RedisKeys>,
    _dir: Option<tempfile::TempDir>,
}

/// Removes every key under a test's prefix when dropped, so a failed test leaves nothing.
struct RedisKeys {
    url: String,
    prefix: String,
}

impl RedisKeys {
    fn keys(&self, pattern: &str) -> Vec<String> {
        let client = redis::Client::open(self.url.as_str()).expect("redis url");
        let mut con = client.get_connection().expect("redis connection");
        let mut out: Vec<String> = redis::Commands::scan_match::<_, String>(
            &mut con,
            format!("{}:{pattern}", self.prefix),
        )
        .expect("scan")
        .collect::<Result<_, _>>()
        .expect("scan");
        out.sort();
        out
    }
}

impl Drop for RedisKeys {
    fn drop(&mut self) {
        let keys = self.keys("*");
        if !keys.is_empty() {
            let client = redis::Client::open(self.url.as_str()).expect("redis url");
            let mut con = client.get_connection().expect("redis connection");
            let _: i64 = redis::Commands::del(&mut con, keys).expect("del");
        }
    }
}

impl Fixture {
    async fn embedded() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path()).await.expect("open");
        Fixture {
            store: Arc::new(store),
            redis: None,
            _dir: Some(dir),
        }
    }

    async fn redis() -> Fixture {
        let url = std::env::var("IMAPAPI_TEST_REDIS")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_string());
        let prefix = format!("imapapi-test-{}", uuid::Uuid::new_v4().simple());
        let store = RedisStore::connect(&url, &prefix)
            .await
            .expect("Redis must be running for the conformance suite (IMAPAPI_TEST_REDIS)");
        Fixture {
            store: Arc::new(store),
            redis: Some(RedisKeys { url, prefix }),
            _dir: None,
        }
    }

    /// Per-account keys left in Redis (always empty for the embedded store, whose
    /// leftovers the trait-level checks already cover).
    fn account_keys(&self) -> Vec<String> {
        self.redis
            .as_ref()
            .map(|r| r.keys("acct:*"))
            .unwrap_or_default()
    }
}

/// Instantiate each listed test for both backends.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Fixture::embedded().await).await;
                }
            )*
        }
        mod redis_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Fixture::redis().await).await;
                }
            )*
        }
    };
}

conformance!(
    accounts_crud_and_generation,
    delete_account_removes_everything,
    mailbox_ids_unique_under_concurrency,
    fenced_writes_need_the_lease,
    fenced_writes_refused_after_account_deletion,
    reset_drops_old_chunks,
    none_chunk_update_deletes,
    delete_folder_removes_state_and_index,
    lease_acquire_renew_expire_takeover_release,
    lease_owners_read_many_at_once,
    lease_renewal_extends_expiry,
    racing_owners_exactly_one_wins,
    settings_round_trip,
    folder_names_with_separators_stay_apart,
    commit_of_a_thousand_chunks,
    node_heartbeats_expire_and_deregister,
    counters_add_up_per_minute_and_sum_over_a_window,
    counters_leave_the_retention_window,
    concurrent_counter_batches_lose_nothing,
    outbox_round_trip_oldest_first,
    outbox_updates_only_from_the_expected_state,
    outbox_compare_and_set_has_one_winner,
    idempotency_keys_answer_once,
    a_dead_nodes_lease_can_be_taken_over,
    tokens_found_by_hash_listed_and_deleted_by_id,
    failing_receivers_are_set_and_cleared,
    logs_keep_the_newest_lines_in_order,
    logs_only_for_existing_accounts_and_gone_with_them,
    changes_are_numbered_kept_newest_and_read_after_a_state,
    changes_only_for_existing_accounts_and_gone_with_them,
    changes_appended_in_batches_keep_the_single_form_invariants,
    owner_and_state_read_together_as_apart,
);

const TTL: Duration = Duration::from_secs(30);

fn account(id: &str) -> AccountConfig {
    AccountConfig {
        account: id.to_string(),
        name: format!("Account {id}"),
        copy: None,
        notify_from: None,
        path: None,
        imap: Some(ImapConfig {
            host: "imap.example.com".into(),
            port: 993,
            secure: true,
            auth: Some(AuthConfig {
                user: "user".into(),
                pass: Some(Secret::new("pass")),
                access_token: None,
            }),
            use_auth_server: false,
            tls: None,
            resync_delay: None,
            idle_folders: None,
        }),
        smtp: None,
        oauth2: None,
        webhooks: None,
    }
}

fn folder(path: &str, mailbox_id: u32, uid_next: u32) -> FolderState {
    FolderState {
        path: path.to_string(),
        mailbox_id,
        uid_validity: 1,
        uid_next,
        highest_modseq: Some(7),
        special_use: None,
        delimiter: Some("/".into()),
        messages: 3,
        first_sync_pending: false,
        generation: 0,
    }
}

fn set(chunk: u32, data: &[u8]) -> IndexChunkUpdate {
    IndexChunkUpdate {
        chunk,
        data: Some(data.to_vec()),
    }
}

fn chunk(chunk: u32, data: &[u8]) -> IndexChunk {
    IndexChunk {
        chunk,
        data: data.to_vec(),
    }
}

fn status(state: AccountState) -> AccountStatus {
    AccountStatus {
        state,
        ..Default::default()
    }
}

async fn accounts_crud_and_generation(f: Fixture) {
    let s = &f.store;
    let g0 = s.accounts_generation().await.unwrap();
    assert!(!s.put_account(&account("b")).await.unwrap(), "new account");
    let g1 = s.accounts_generation().await.unwrap();
    assert_ne!(g0, g1);
    assert!(!s.put_account(&account("a")).await.unwrap());
    let mut changed = account("a");
    changed.name = "renamed".into();
    assert!(
        s.put_account(&changed).await.unwrap(),
        "replacing reports existed"
    );
    let g2 = s.accounts_generation().await.unwrap();
    assert!(g2 != g1);
    assert_eq!(s.get_account("a").await.unwrap(), Some(changed));
    assert_eq!(s.get_account("nope").await.unwrap(), None);
    assert_eq!(s.list_accounts().await.unwrap(), vec!["a", "b"]);

    assert!(s.delete_account("a").await.unwrap());
    let g3 = s.accounts_generation().await.unwrap();
    assert_ne!(g3, g2);
    assert!(!s.delete_account("a").await.unwrap(), "second delete");
    assert_eq!(s.get_account("a").await.unwrap(), None);
    assert_eq!(s.list_accounts().await.unwrap(), vec!["b"]);
}

async fn delete_account_removes_everything(f: Fixture) {
    let s = &f.store;
    s.put_account(&account("acc")).await.unwrap();
    s.put_account(&account("other")).await.unwrap();
    for id in ["acc", "other"] {
        assert!(s.acquire_lease(id, "node1", TTL).await.unwrap());
        assert!(
            s.set_status(id, "node1", &status(AccountState::Connected))
                .await
                .unwrap()
        );
        for path in ["INBOX", "Sent"] {
            let st = folder(path, 1, 10);
            let chunks = [set(0, b"x"), set(1, b"y")];
            assert!(
                s.commit_folder(id, "node1", &st, false, &chunks)
                    .await
                    .unwrap()
            );
        }
    }

    assert!(s.delete_account("acc").await.unwrap());
    assert_eq!(s.get_status("acc").await.unwrap(), None);
    assert!(s.list_folders("acc").await.unwrap().is_empty());
    assert!(s.load_index("acc", "INBOX").await.unwrap().is_empty());
    assert!(s.load_index("acc", "Sent").await.unwrap().is_empty());
    assert_eq!(s.lease_owner("acc").await.unwrap(), None);

    // Registering it again starts from nothing.
    s.put_account(&account("acc")).await.unwrap();
    assert!(s.list_folders("acc").await.unwrap().is_empty());
    assert_eq!(s.get_status("acc").await.unwrap(), None);

    // The other account is untouched.
    assert_eq!(s.list_folders("other").await.unwrap().len(), 2);
    assert_eq!(s.load_index("other", "Sent").await.unwrap().len(), 2);
    assert_eq!(
        s.lease_owner("other").await.unwrap().as_deref(),
        Some("node1")
    );

    s.delete_account("other").await.unwrap();
    s.delete_account("acc").await.unwrap();
    assert_eq!(
        f.account_keys(),
        Vec::<String>::new(),
        "no key outlives its account"
    );
}

async fn mailbox_ids_unique_under_concurrency(f: Fixture) {
    let s = &f.store;
    let a = s.allocate_mailbox_id().await.unwrap();
    let b = s.allocate_mailbox_id().await.unwrap();
    assert!(a > 0 && b > a, "increasing and never 0: {a} {b}");

    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..8 {
                let id = s.allocate_mailbox_id().await.unwrap();
                // Within one task, ids keep increasing.
                assert!(ids.last().is_none_or(|&l| id > l));
                ids.push(id);
            }
            ids
        }));
    }
    let mut all = BTreeSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(id > b);
            assert!(all.insert(id), "id {id} handed out twice");
        }
    }
    assert_eq!(all.len(), 128);
}

async fn fenced_writes_need_the_lease(f: Fixture) {
    let s = &f.store;
    s.put_account(&account("acc")).await.unwrap();
    let st = folder("INBOX", 1, 5);
    let chunks = [set(0, b"a")];

    // Nobody holds the lease.
    assert!(
        !s.set_status("acc", "node1", &status(AccountState::Connected))
            .await
            .unwrap()
    );
    assert!(
        !s.commit_folder("acc", "node1", &st, false, &chunks)
            .await
            .unwrap()
    );
    assert!(!s.delete_folder("acc", "node1", "INBOX").await.unwrap());
    assert_eq!(s.get_status("acc").await.unwrap(), None);
    assert!(s.list_folders("acc").await.unwrap().is_empty());
    assert!(s.load_index("acc", "INBOX").await.unwrap().is_empty());

    // Someone else holds it.
    assert!(s.acquire_lease("acc", "node2", TTL).await.unwrap());
    assert!(
        !s.set_status("acc", "node1", &status(AccountState::Connected))
            .await
            .unwrap()
    );
    assert!(
        !s.commit_folder("acc", "node1", &st, false, &chunks)
            .await
            .unwrap()
    );

    // The holder may write, and only the holder may delete.
    assert!(
        s.commit_folder("acc", "node2", &st, false, &chunks)
            .await
            .unwrap()
    );
    assert!(!s.delete_folder("acc", "node1", "INBOX").await.unwrap());
    assert_eq!(s.list_folders("acc").await.unwrap(), vec![st.clone()]);
    assert!(
        s.set_status("acc", "node2", &status(AccountState::Connecting))
            .await
            .unwrap()
    );
    assert_eq!(
        s.get_status("acc").await.unwrap(),
        Some(status(AccountState::Connecting))
    );
}

async fn fenced_writes_refused_after_account_deletion(f: Fixture) {
    let s = &f.store;
    s.put_account(&account("acc")).await.unwrap();
    assert!(s.acquire_lease("acc", "node1", TTL).await.unwrap());
    let st = folder("INBOX", 1, 5);
    assert!(
        s.commit_folder("acc", "node1", &st, false, &[set(0, b"a")])
            .await
            .unwrap()
    );
    assert!(s.delete_account("acc").await.unwrap());

    // A late write from the former owner must not resurrect anything.
    assert!(
        !s.commit_folder("acc", "node1", &st, false, &[set(1, b"b")])
            .await
            .unwrap()
    );
    assert!(
        !s.set_status("acc", "node1", &status(AccountState::Connected))
            .await
            .unwrap()
    );
    assert!(!s.delete_folder("acc", "node1", "INBOX").await.unwrap());
    assert!(s.list_folders("acc").await.unwrap().is_empty());
    assert!(s.load_index("acc", "INBOX").await.unwrap().is_empty());
    assert_eq!(s.get_status("acc").await.unwrap(), None);
    assert_eq!(f.account_keys(), Vec::<String>::new());
}

async fn reset_drops_old_chunks(f: Fixture) {
    let s = &f.store;
    assert!(s.acquire_lease("acc", "n", TTL).await.unwrap());
    let old = folder("INBOX", 1, 10);
    let chunks = [set(0, b"a"), set(1, b"b"), set(2, b"c")];
    assert!(
        s.commit_folder("acc", "n", &old, false, &chunks)
            .await
            .unwrap()
    );
    assert_eq!(s.load_index("acc", "INBOX").await.unwrap().len(), 3);

    let mut new = folder("INBOX", 2, 3);
    new.uid_validity = 99;
    assert!(
        s.commit_folder("acc", "n", &new, true, &[set(0, b"fresh")])
            .await
            .unwrap()
    );
    assert_eq!(
        s.load_index("acc", "INBOX").await.unwrap(),
        vec![chunk(0, b"fresh")]
    );
    assert_eq!(s.list_folders("acc").await.unwrap(), vec![new.clone()]);

    // A reset with no chunks leaves an empty index.
    assert!(s.commit_folder("acc", "n", &new, true, &[]).await.unwrap());
    assert!(s.load_index("acc", "INBOX").await.unwrap().is_empty());
}

async fn none_chunk_update_deletes(f: Fixture) {
    let s = &f.store;
    assert!(s.acquire_lease("acc", "n", TTL).await.unwrap());
    let st = folder("INBOX", 1, 10);
    let chunks = [set(2, b"c"), set(0, b"a"), set(1, b"b")];
    assert!(
        s.commit_folder("acc", "n", &st, false, &chunks)
            .await
            .unwrap()
    );
    // Binary data must survive untouched.
    let binary: Vec<u8> = (0..=255).collect();
    let update = [
        IndexChunkUpdate {
            chunk: 1,
            data: None,
        },
        set(3, &binary),
        set(0, b"a2"),
        IndexChunkUpdate {
            chunk: 42,
            data: None,
        },
    ];
    assert!(
        s.commit_folder("acc", "n", &st, false, &update)
            .await
            .unwrap()
    );
    assert_eq!(
        s.load_index("acc", "INBOX").await.unwrap(),
        vec![chunk(0, b"a2"), chunk(2, b"c"), chunk(3, &binary)]
    );
}

async fn delete_folder_removes_state_and_index(f: Fixture) {
    let s = &f.store;
    assert!(s.acquire_lease("acc", "n", TTL).await.unwrap());
    let inbox = folder("INBOX", 1, 10);
    let sent = folder("Sent", 2, 4);
    assert!(
        s.commit_folder("acc", "n", &inbox, false, &[set(0, b"i")])
            .await
            .unwrap()
    );
    assert!(
        s.commit_folder("acc", "n", &sent, false, &[set(0, b"s")])
            .await
            .unwrap()
    );
    let mut all = s.list_folders("acc").await.unwrap();
    all.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(all, vec![inbox.clone(), sent.clone()]);

    assert!(s.delete_folder("acc", "n", "INBOX").await.unwrap());
    assert_eq!(s.list_folders("acc").await.unwrap(), vec![sent]);
    assert!(s.load_index("acc", "INBOX").await.unwrap().is_empty());
    assert_eq!(
        s.load_index("acc", "Sent").await.unwrap(),
        vec![chunk(0, b"s")]
    );
    // Deleting a folder that is not there is fine.
    assert!(s.delete_folder("acc", "n", "Nope").await.unwrap());
}

async fn lease_acquire_renew_expire_takeover_release(f: Fixture) {
    let s = &f.store;
    let ttl = Duration::from_millis(200);
    assert_eq!(s.lease_owner("acc").await.unwrap(), None);
    assert!(s.acquire_lease("acc", "a", ttl).await.unwrap());
    assert_eq!(s.lease_owner("acc").await.unwrap().as_deref(), Some("a"));
    assert!(s.acquire_lease("acc", "a", ttl).await.unwrap(), "renew");
    assert!(
        !s.acquire_lease("acc", "b", ttl).await.unwrap(),
        "held by a"
    );

    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(s.lease_owner("acc").await.unwrap(), None, "expired");
    assert!(
        !s.set_status("acc", "a", &status(AccountState::Connected))
            .await
            .unwrap(),
        "an expired lease fences"
    );
    assert!(s.acquire_lease("acc", "b", TTL).await.unwrap(), "takeover");
    assert!(!s.acquire_lease("acc", "a", TTL).await.unwrap());

    s.release_lease("acc", "a").await.unwrap();
    assert_eq!(
        s.lease_owner("acc").await.unwrap().as_deref(),
        Some("b"),
        "only the holder releases"
    );
    s.release_lease("acc", "b").await.unwrap();
    assert_eq!(s.lease_owner("acc").await.unwrap(), None);
    assert!(s.acquire_lease("acc", "a", TTL).await.unwrap());
}

async fn lease_owners_read_many_at_once(f: Fixture) {
    let s = &f.store;
    assert!(s.lease_owners(&[]).await.unwrap().is_empty());
    assert!(s.acquire_lease("acc1", "a", TTL).await.unwrap());
    assert!(s.acquire_lease("acc3", "b", TTL).await.unwrap());
    assert!(
        s.acquire_lease("acc4", "a", Duration::from_millis(100))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    let accounts: Vec<String> = ["acc3", "acc1", "acc2", "acc4", "acc1"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    let owners = s.lease_owners(&accounts).await.unwrap();
    assert_eq!(
        owners,
        vec![
            Some("b".to_string()),
            Some("a".to_string()),
            None,
            None,
            Some("a".to_string())
        ],
        "in the order asked, a free and an expired lease as None"
    );
}

async fn lease_renewal_extends_expiry(f: Fixture) {
    let s = &f.store;
    let ttl = Duration::from_millis(400);
    assert!(s.acquire_lease("acc", "a", ttl).await.unwrap());
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(s.acquire_lease("acc", "a", ttl).await.unwrap());
    }
    // 600 ms after the first grant, the renewed lease is still held.
    assert_eq!(s.lease_owner("acc").await.unwrap().as_deref(), Some("a"));
    assert!(!s.acquire_lease("acc", "b", ttl).await.unwrap());
}

async fn racing_owners_exactly_one_wins(f: Fixture) {
    let s = &f.store;
    for round in 0..20 {
        let account = format!("acc{round}");
        let mut tasks = Vec::new();
        for owner in ["a", "b", "c"] {
            let (s, account) = (s.clone(), account.clone());
            tasks.push(tokio::spawn(async move {
                s.acquire_lease(&account, owner, TTL).await.unwrap()
            }));
        }
        let mut winners = 0;
        for t in tasks {
            winners += usize::from(t.await.unwrap());
        }
        assert_eq!(winners, 1, "round {round}");
        assert!(s.lease_owner(&account).await.unwrap().is_some());
    }
}

async fn settings_round_trip(f: Fixture) {
    let s = &f.store;
    assert_eq!(s.get_settings().await.unwrap(), Settings::default());
    let settings = Settings {
        webhooks: Some("https://example.com/hook".into()),
        webhook_events: Some(vec!["messageNew".into()]),
        notify_text: Some(true),
        notify_text_size: Some(1024),
        ..Default::default()
    };
    s.put_settings(&settings).await.unwrap();
    assert_eq!(s.get_settings().await.unwrap(), settings);
}

async fn folder_names_with_separators_stay_apart(f: Fixture) {
    let s = &f.store;
    for acc in ["a:b", "a", "{x}"] {
        assert!(s.acquire_lease(acc, "n", TTL).await.unwrap());
    }
    let paths = ["b:idx:c", "idx", "Entwürfe", "a%3Ab", "a:b", "x{y}z"];
    for (i, p) in paths.iter().enumerate() {
        let n = u32::try_from(i).unwrap();
        assert!(
            s.commit_folder(
                "a",
                "n",
                &folder(p, n + 1, 1),
                false,
                &[set(n, p.as_bytes())]
            )
            .await
            .unwrap()
        );
    }
    assert!(
        s.commit_folder("a:b", "n", &folder("c", 9, 1), false, &[set(0, b"other")])
            .await
            .unwrap()
    );
    for (i, p) in paths.iter().enumerate() {
        let n = u32::try_from(i).unwrap();
        assert_eq!(
            s.load_index("a", p).await.unwrap(),
            vec![chunk(n, p.as_bytes())]
        );
    }
    assert_eq!(s.list_folders("a").await.unwrap().len(), paths.len());
    assert_eq!(s.list_folders("a:b").await.unwrap().len(), 1);
    assert!(s.list_folders("{x}").await.unwrap().is_empty());
    s.delete_account("a").await.unwrap();
    assert_eq!(s.list_folders("a:b").await.unwrap().len(), 1);
    assert_eq!(
        s.load_index("a:b", "c").await.unwrap(),
        vec![chunk(0, b"other")]
    );
}

/// On Redis a commit is one EVALSHA (plus one SCRIPT LOAD the first time the server sees
/// the script) whatever the number of chunks: every update is an argument of that single
/// script call, so the round trip count is constant by construction. This checks that a
/// large batch goes through and lands intact.
async fn commit_of_a_thousand_chunks(f: Fixture) {
    let s = &f.store;
    assert!(s.acquire_lease("acc", "n", TTL).await.unwrap());
    let st = folder("INBOX", 1, 100_000);
    let data = |i: u32, tag: u8| -> Vec<u8> {
        let mut d = vec![tag; 100];
        d.extend_from_slice(&i.to_be_bytes());
        d
    };
    let updates: Vec<IndexChunkUpdate> = (0..1000)
        .map(|i| IndexChunkUpdate {
            chunk: i,
            data: Some(data(i, 1)),
        })
        .collect();
    let t = std::time::Instant::now();
    assert!(
        s.commit_folder("acc", "n", &st, false, &updates)
            .await
            .unwrap()
    );
    let backend = if f.redis.is_some() {
        "redis"
    } else {
        "embedded"
    };
    eprintln!("{backend}: commit of 1000 chunks: {:?}", t.elapsed());
    let index = s.load_index("acc", "INBOX").await.unwrap();
    assert_eq!(index.len(), 1000);
    assert!(index.iter().enumerate().all(|(i, c)| {
        let i = u32::try_from(i).unwrap();
        c.chunk == i && c.data == data(i, 1)
    }));

    // Half rewritten, half deleted, in one commit.
    let updates: Vec<IndexChunkUpdate> = (0..1000)
        .map(|i| IndexChunkUpdate {
            chunk: i,
            data: (i % 2 == 0).then(|| data(i, 2)),
        })
        .collect();
    assert!(
        s.commit_folder("acc", "n", &st, false, &updates)
            .await
            .unwrap()
    );
    let index = s.load_index("acc", "INBOX").await.unwrap();
    assert_eq!(index.len(), 500);
    assert!(
        index
            .iter()
            .all(|c| c.chunk % 2 == 0 && c.data == data(c.chunk, 2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_keeps_everything_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested");
    let settings = Settings {
        webhooks: Some("https://example.com/hook".into()),
        ..Default::default()
    };
    let st = folder("INBOX", 5, 10);
    let (generation, last_id) = {
        let s = EmbeddedStore::open(&path).await.unwrap();
        s.put_account(&account("acc")).await.unwrap();
        s.put_settings(&settings).await.unwrap();
        assert!(s.acquire_lease("acc", "n", TTL).await.unwrap());
        assert!(
            s.set_status("acc", "n", &status(AccountState::Connected))
                .await
                .unwrap()
        );
        assert!(
            s.commit_folder("acc", "n", &st, false, &[set(0, b"zero"), set(7, b"seven")])
                .await
                .unwrap()
        );
        let id = s.allocate_mailbox_id().await.unwrap();
        (s.accounts_generation().await.unwrap(), id)
    };
    let s = EmbeddedStore::open(&path).await.unwrap();
    use imapapi_common::store::{
        AccountStore as _, FolderStore as _, LeaseStore as _, SettingsStore as _, StatusStore as _,
    };
    assert_eq!(s.get_account("acc").await.unwrap(), Some(account("acc")));
    assert_eq!(s.list_accounts().await.unwrap(), vec!["acc"]);
    assert_eq!(s.get_settings().await.unwrap(), settings);
    assert_eq!(s.accounts_generation().await.unwrap(), generation);
    assert_eq!(
        s.get_status("acc").await.unwrap(),
        Some(status(AccountState::Connected))
    );
    assert_eq!(s.list_folders("acc").await.unwrap(), vec![st]);
    assert_eq!(
        s.load_index("acc", "INBOX").await.unwrap(),
        vec![chunk(0, b"zero"), chunk(7, b"seven")]
    );
    assert!(
        s.allocate_mailbox_id().await.unwrap() > last_id,
        "ids never reused"
    );
    // The file is this process's alone: leases of an earlier run are gone, so a restarted
    // gateway (with a new node id) takes its accounts back without waiting out the ttl.
    assert_eq!(s.lease_owner("acc").await.unwrap(), None);
    assert!(s.acquire_lease("acc", "restarted", TTL).await.unwrap());
}

#[tokio::test]
async fn open_picks_the_embedded_store_without_redis() {
    let dir = tempfile::tempdir().unwrap();
    let cli = imapapi_common::config::Cli::default();
    let mut config =
        imapapi_common::config::Config::from_layers(&cli, &Default::default()).unwrap();
    config.redis = None;
    config.data_dir = dir.path().to_path_buf();
    let s = imapapi_common::store::open(&config).await.unwrap();
    s.put_account(&account("x")).await.unwrap();
    assert!(dir.path().join("store.redb").exists());
}

async fn node_heartbeats_expire_and_deregister(f: Fixture) {
    let s = &f.store;
    let short = Duration::from_millis(300);
    assert_eq!(s.heartbeat_node("n1", TTL).await.unwrap(), vec!["n1"]);
    assert_eq!(
        s.heartbeat_node("n2", short).await.unwrap(),
        vec!["n1", "n2"]
    );
    // Renewing is idempotent.
    assert_eq!(s.heartbeat_node("n1", TTL).await.unwrap(), vec!["n1", "n2"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        s.heartbeat_node("n1", TTL).await.unwrap(),
        vec!["n1"],
        "n2 expired"
    );
    s.heartbeat_node("n3", TTL).await.unwrap();
    assert_eq!(s.live_nodes().await.unwrap(), vec!["n1", "n3"]);
    s.remove_node("n1").await.unwrap();
    assert_eq!(
        s.live_nodes().await.unwrap(),
        vec!["n3"],
        "reading announces nobody"
    );
    assert_eq!(s.heartbeat_node("n3", TTL).await.unwrap(), vec!["n3"]);
}

async fn counters_add_up_per_minute_and_sum_over_a_window(f: Fixture) {
    let s = &f.store;
    let now = minute_of(SystemTime::now());
    let add = |minute: u64, counts: &[(&str, u64)]| {
        let counts: Vec<(String, u64)> = counts.iter().map(|(n, c)| (n.to_string(), *c)).collect();
        async move { s.add_counts(minute, &counts).await.unwrap() }
    };
    add(now, &[("events:messageNew", 2), ("webhooks:fail", 1)]).await;
    add(now, &[("events:messageNew", 3)]).await;
    add(now + 1, &[("events:messageNew", 1)]).await;
    add(now - 50, &[("webhooks:fail", 7)]).await;

    let sums = s.sum_counts(now, now + 1).await.unwrap();
    assert_eq!(sums.get("events:messageNew"), Some(&6));
    assert_eq!(sums.get("webhooks:fail"), Some(&1));
    assert_eq!(sums.len(), 2);
    let sums = s.sum_counts(now - 60, now + 1).await.unwrap();
    assert_eq!(sums.get("webhooks:fail"), Some(&8));
    assert_eq!(s.sum_counts(now - 50, now - 50).await.unwrap().len(), 1);
    assert!(s.sum_counts(now + 2, now + 100).await.unwrap().is_empty());
    assert!(s.sum_counts(now + 1, now).await.unwrap().is_empty());
}

async fn counters_leave_the_retention_window(f: Fixture) {
    let s = &f.store;
    let now = minute_of(SystemTime::now());
    let old = now - COUNTER_RETENTION_MINUTES - 5;
    s.add_counts(old, &[("apiCall:success".into(), 4)])
        .await
        .unwrap();
    s.add_counts(now, &[("apiCall:success".into(), 1)])
        .await
        .unwrap();
    assert!(s.sum_counts(old, old).await.unwrap().is_empty());
    assert_eq!(
        s.sum_counts(now - 10, now)
            .await
            .unwrap()
            .get("apiCall:success"),
        Some(&1)
    );
}

async fn concurrent_counter_batches_lose_nothing(f: Fixture) {
    let now = minute_of(SystemTime::now());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let s = f.store.clone();
        tasks.spawn(async move {
            for _ in 0..5 {
                s.add_counts(now, &[("events:messageNew".into(), 1)])
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let sums = f.store.sum_counts(now, now).await.unwrap();
    assert_eq!(sums.get("events:messageNew"), Some(&100));
}

fn outbox_entry(queue_id: &str) -> OutboxEntry {
    OutboxEntry {
        queue_id: queue_id.into(),
        account: "acc".into(),
        message_id: format!("<{queue_id}@example.com>"),
        envelope: Envelope {
            from: "a@example.com".into(),
            to: vec!["b@example.com".into(), "c@example.com".into()],
        },
        subject: Some("Tere".into()),
        reference: Some(SentReference {
            message: "AAAAAQAAAeE".into(),
            action: "reply".into(),
        }),
        created: "2026-12-02T10:00:00.000Z".into(),
        send_at: None,
        state: OutboxState::Queued,
        attempts: 0,
        response: None,
        error: None,
        size: 4,
    }
}

async fn outbox_round_trip_oldest_first(f: Fixture) {
    let s = &f.store;
    assert!(s.list_outbox().await.unwrap().is_empty());
    let mime = vec![0u8, 159, 146, 150, b'\r', b'\n'];
    s.put_outbox(&outbox_entry("0002"), b"late").await.unwrap();
    s.put_outbox(&outbox_entry("0001"), &mime).await.unwrap();
    assert_eq!(
        s.get_outbox("0001").await.unwrap(),
        Some(outbox_entry("0001"))
    );
    assert_eq!(s.outbox_mime("0001").await.unwrap(), Some(mime));
    let ids: Vec<String> = s
        .list_outbox()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.queue_id)
        .collect();
    assert_eq!(ids, ["0001", "0002"]);
    s.delete_outbox("0001").await.unwrap();
    assert_eq!(s.get_outbox("0001").await.unwrap(), None);
    assert_eq!(s.outbox_mime("0001").await.unwrap(), None);
    s.delete_outbox("0001").await.unwrap();
    assert_eq!(s.list_outbox().await.unwrap().len(), 1);
}

async fn outbox_updates_only_from_the_expected_state(f: Fixture) {
    let s = &f.store;
    let mut e = outbox_entry("0001");
    s.put_outbox(&e, b"mime").await.unwrap();
    e.state = OutboxState::Sent;
    e.response = Some("250 2.0.0 Ok: queued".into());
    assert!(!s.update_outbox(&e, &[OutboxState::Sending]).await.unwrap());
    assert_eq!(
        s.get_outbox("0001").await.unwrap().unwrap().state,
        OutboxState::Queued
    );
    assert!(
        s.update_outbox(&e, &[OutboxState::Queued, OutboxState::Sending])
            .await
            .unwrap()
    );
    assert_eq!(s.get_outbox("0001").await.unwrap(), Some(e.clone()));
    // A sent entry cannot be cancelled any more.
    let mut cancel = e.clone();
    cancel.state = OutboxState::Cancelled;
    assert!(
        !s.update_outbox(&cancel, &[OutboxState::Queued])
            .await
            .unwrap()
    );
    // Nor can a missing one be updated.
    assert!(
        !s.update_outbox(&outbox_entry("0009"), &[OutboxState::Queued])
            .await
            .unwrap()
    );
    assert_eq!(s.get_outbox("0009").await.unwrap(), None);
}

async fn outbox_compare_and_set_has_one_winner(f: Fixture) {
    let s = f.store.clone();
    s.put_outbox(&outbox_entry("0001"), b"mime").await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let s = s.clone();
        tasks.spawn(async move {
            let mut e = outbox_entry("0001");
            e.state = OutboxState::Sending;
            e.attempts = i;
            s.update_outbox(&e, &[OutboxState::Queued]).await.unwrap()
        });
    }
    let mut winners = 0;
    while let Some(won) = tasks.join_next().await {
        winners += usize::from(won.unwrap());
    }
    assert_eq!(winners, 1);
}

async fn idempotency_keys_answer_once(f: Fixture) {
    let s = f.store.clone();
    let long = Duration::from_secs(60);
    assert_eq!(
        s.claim_idempotency("acc:k1", "first", long).await.unwrap(),
        None
    );
    assert_eq!(
        s.claim_idempotency("acc:k1", "second", long).await.unwrap(),
        Some("first".to_string())
    );
    s.release_idempotency("acc:k1").await.unwrap();
    assert_eq!(
        s.claim_idempotency("acc:k1", "third", long).await.unwrap(),
        None
    );
    // An expired key can be claimed again.
    let short = Duration::from_millis(50);
    assert_eq!(
        s.claim_idempotency("acc:k2", "old", short).await.unwrap(),
        None
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        s.claim_idempotency("acc:k2", "new", long).await.unwrap(),
        None
    );
    assert_eq!(
        s.claim_idempotency("acc:k2", "again", long).await.unwrap(),
        Some("new".to_string())
    );
    // Of concurrent claims exactly one wins; the rest see the winner's answer.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let s = s.clone();
        tasks.spawn(async move {
            let mine = format!("answer {i}");
            let got = s.claim_idempotency("acc:race", &mine, long).await.unwrap();
            (mine, got)
        });
    }
    let mut winners = Vec::new();
    let mut seen = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (mine, got) = done.unwrap();
        match got {
            None => winners.push(mine),
            Some(answer) => seen.push(answer),
        }
    }
    assert_eq!(winners.len(), 1);
    assert!(seen.iter().all(|a| *a == winners[0]));
}

async fn a_dead_nodes_lease_can_be_taken_over(f: Fixture) {
    let s = &f.store;
    s.put_account(&account("acc")).await.unwrap();
    assert!(s.acquire_lease("acc", "node-a", TTL).await.unwrap());
    // Only from the node named dead: a live lease of another node stays.
    assert!(
        !s.take_over_lease("acc", "node-b", "node-c", TTL)
            .await
            .unwrap()
    );
    assert_eq!(
        s.lease_owner("acc").await.unwrap().as_deref(),
        Some("node-a")
    );
    assert!(
        s.take_over_lease("acc", "node-b", "node-a", TTL)
            .await
            .unwrap()
    );
    assert_eq!(
        s.lease_owner("acc").await.unwrap().as_deref(),
        Some("node-b")
    );
    // The old owner is fenced off and cannot take it back.
    assert!(
        !s.set_status("acc", "node-a", &status(AccountState::Connected))
            .await
            .unwrap()
    );
    assert!(
        s.set_status("acc", "node-b", &status(AccountState::Connected))
            .await
            .unwrap()
    );
    assert!(!s.acquire_lease("acc", "node-a", TTL).await.unwrap());
    // A free lease can be taken too.
    s.release_lease("acc", "node-b").await.unwrap();
    assert!(
        s.take_over_lease("acc", "node-c", "node-a", TTL)
            .await
            .unwrap()
    );
}

/// `rediss://`: the store over TLS, against a redis-server of its own with a certificate
/// made for the test (openssl), trusting only that CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls() {
    use imapapi_common::store::SettingsStore as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sh = |script: &str| {
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(d)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
    };
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout ca.key -out ca.crt \
        -subj /CN=redis-test-ca -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign",
    );
    sh(
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost",
    );
    sh(
        "printf 'basicConstraints=CA:FALSE\\nsubjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > ext \
        && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
        -extfile ext -out server.crt",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--tls-cert-file",
            "server.crt",
            "--tls-key-file",
            "server.key",
        ])
        .args([
            "--tls-ca-cert-file",
            "ca.crt",
            "--tls-auth-clients",
            "no",
            "--save",
            "",
        ])
        .current_dir(d)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server");
    let ca = std::fs::read(d.join("ca.crt")).unwrap();
    let url = format!("rediss://127.0.0.1:{port}/0");
    let mut store = None;
    for _ in 0..50 {
        match RedisStore::connect_with(&url, "tls-test", Some(ca.clone())).await {
            Ok(s) => {
                store = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let store = store.expect("a TLS connection to redis-server");
    let settings = Settings {
        notify_text: Some(true),
        ..Default::default()
    };
    store.put_settings(&settings).await.unwrap();
    assert_eq!(store.get_settings().await.unwrap(), settings);
    // Without trusting the test CA, the server's certificate is refused.
    let other_ca = {
        sh(
            "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout o.key -out o.crt -subj /CN=other",
        );
        std::fs::read(d.join("o.crt")).unwrap()
    };
    assert!(
        RedisStore::connect_with(&url, "tls-test", Some(other_ca))
            .await
            .is_err()
    );
    let _ = server.kill();
    let _ = server.wait();
}

async fn tokens_found_by_hash_listed_and_deleted_by_id(f: Fixture) {
    use imapapi_common::model::token::{new_token, token_hash};
    use imapapi_common::model::{Scope, TokenRecord};
    let record = |scopes: Vec<Scope>| {
        let token = new_token();
        let rec = TokenRecord {
            id: uuid::Uuid::new_v4(),
            hash: token_hash(&token),
            description: "ci".into(),
            scopes,
            created: 1,
            expires: Some(2),
        };
        (token, rec)
    };
    let (token_a, a) = record(vec![Scope::Api]);
    let (_, b) = record(vec![Scope::Read, Scope::Account("x:y".into())]);
    f.store.put_token(&a).await.unwrap();
    f.store.put_token(&b).await.unwrap();
    let found = f.store.token_by_hash(&token_hash(&token_a)).await.unwrap();
    assert_eq!(found.as_ref(), Some(&a));
    assert!(
        f.store
            .token_by_hash(&token_hash("nope"))
            .await
            .unwrap()
            .is_none()
    );
    let mut ids: Vec<_> = f
        .store
        .list_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    ids.sort();
    let mut want = vec![a.id, b.id];
    want.sort();
    assert_eq!(ids, want);
    assert!(f.store.delete_token(a.id).await.unwrap());
    assert!(!f.store.delete_token(a.id).await.unwrap(), "deleted twice");
    assert!(f.store.token_by_hash(&a.hash).await.unwrap().is_none());
    assert_eq!(f.store.list_tokens().await.unwrap(), vec![b]);
}

fn lines(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("line {i}")).collect()
}

async fn logs_keep_the_newest_lines_in_order(f: Fixture) {
    let s = &f.store;
    s.put_account(&account("a")).await.unwrap();
    s.put_account(&account("b")).await.unwrap();
    assert!(s.read_log("a", 10).await.unwrap().is_empty(), "no log yet");
    assert!(s.append_log("a", &lines(0..3), 5).await.unwrap());
    assert!(s.append_log("a", &lines(3..7), 5).await.unwrap());
    assert!(s.append_log("b", &lines(100..101), 5).await.unwrap());
    assert_eq!(
        s.read_log("a", 100).await.unwrap(),
        lines(2..7),
        "trimmed to 5"
    );
    assert_eq!(s.read_log("a", 2).await.unwrap(), lines(5..7), "newest 2");
    assert!(s.read_log("a", 0).await.unwrap().is_empty());
    // A batch larger than the cap keeps its own newest lines.
    assert!(s.append_log("a", &lines(10..20), 4).await.unwrap());
    assert_eq!(s.read_log("a", 100).await.unwrap(), lines(16..20));
    // A lower cap applies from the next append.
    assert!(s.append_log("a", &lines(20..21), 2).await.unwrap());
    assert_eq!(s.read_log("a", 100).await.unwrap(), lines(19..21));
    assert!(s.append_log("a", &lines(21..22), 0).await.unwrap());
    assert!(
        s.read_log("a", 100).await.unwrap().is_empty(),
        "0 keeps none"
    );

    assert!(s.append_log("a", &lines(30..32), 10).await.unwrap());
    s.delete_log("a").await.unwrap();
    assert!(s.read_log("a", 100).await.unwrap().is_empty());
    assert!(s.append_log("a", &lines(40..41), 10).await.unwrap());
    assert_eq!(
        s.read_log("a", 100).await.unwrap(),
        lines(40..41),
        "starts over"
    );
    assert_eq!(
        s.read_log("b", 100).await.unwrap(),
        lines(100..101),
        "b untouched"
    );
}

async fn logs_only_for_existing_accounts_and_gone_with_them(f: Fixture) {
    let s = &f.store;
    assert!(!s.append_log("ghost", &lines(0..2), 10).await.unwrap());
    assert!(s.read_log("ghost", 10).await.unwrap().is_empty());
    s.put_account(&account("acc")).await.unwrap();
    assert!(s.append_log("acc", &lines(0..2), 10).await.unwrap());
    assert!(s.delete_account("acc").await.unwrap());
    assert!(
        s.read_log("acc", 10).await.unwrap().is_empty(),
        "dropped with the account"
    );
    // A connection still closing after the deletion cannot bring the log back.
    assert!(!s.append_log("acc", &lines(2..3), 10).await.unwrap());
    assert!(s.read_log("acc", 10).await.unwrap().is_empty());
    assert_eq!(
        f.account_keys(),
        Vec::<String>::new(),
        "no key outlives its account"
    );
}

async fn failing_receivers_are_set_and_cleared(f: Fixture) {
    use imapapi_common::model::FailingReceiver;
    let failing = |target: &str, error: &str| FailingReceiver {
        target: target.into(),
        since: "2026-01-01T00:00:00.000Z".into(),
        error: error.into(),
    };
    assert!(f.store.failing_receivers().await.unwrap().is_empty());
    f.store
        .set_receiver_failing(&failing("https://b:443", "503"))
        .await
        .unwrap();
    f.store
        .set_receiver_failing(&failing("http://a:80", "refused"))
        .await
        .unwrap();
    f.store
        .set_receiver_failing(&failing("http://a:80", "timeout"))
        .await
        .unwrap();
    let mut all = f.store.failing_receivers().await.unwrap();
    all.sort_by(|a, b| a.target.cmp(&b.target));
    assert_eq!(
        all,
        vec![
            failing("http://a:80", "timeout"),
            failing("https://b:443", "503")
        ]
    );
    f.store.clear_receiver("http://a:80").await.unwrap();
    f.store.clear_receiver("http://never:1").await.unwrap();
    assert_eq!(
        f.store.failing_receivers().await.unwrap(),
        vec![failing("https://b:443", "503")]
    );
}

fn event(n: u32) -> Vec<u8> {
    format!(r#"{{"n":{n},"note":"a:b"}}"#).into_bytes()
}

async fn changes_are_numbered_kept_newest_and_read_after_a_state(f: Fixture) {
    let s = &f.store;
    s.put_account(&account("a")).await.unwrap();
    s.put_account(&account("b")).await.unwrap();
    let empty = s.changes_since("a", 0, 10).await.unwrap();
    assert_eq!((empty.floor, empty.current), (0, 0), "no history yet");
    assert!(empty.changes.is_empty() && !empty.has_more);

    let mut a = Vec::new();
    for n in 0..5 {
        a.push(s.append_change("a", &event(n), 4).await.unwrap().unwrap());
        // Another account's changes take numbers in between: numbers are gateway-wide.
        s.append_change("b", &event(100 + n), 4)
            .await
            .unwrap()
            .unwrap();
    }
    assert!(
        a.windows(2).all(|w| w[1] > w[0] + 1),
        "growing, shared: {a:?}"
    );
    // Four kept: the first one dropped, its number the floor.
    let page = s.changes_since("a", 0, 100).await.unwrap();
    assert_eq!(page.floor, a[0]);
    assert_eq!(page.current, a[4]);
    let got: Vec<u64> = page.changes.iter().map(|c| c.seq).collect();
    assert_eq!(got, a[1..].to_vec());
    assert_eq!(page.changes[0].event, event(1), "stored byte for byte");
    // After a state, with a limit.
    let page = s.changes_since("a", a[1], 2).await.unwrap();
    let got: Vec<u64> = page.changes.iter().map(|c| c.seq).collect();
    assert_eq!(got, vec![a[2], a[3]]);
    assert!(page.has_more);
    let page = s.changes_since("a", a[3], 2).await.unwrap();
    assert_eq!(page.changes.len(), 1);
    assert!(!page.has_more);
    // Up to date, and the state alone.
    let page = s.changes_since("a", a[4], 10).await.unwrap();
    assert!(page.changes.is_empty() && !page.has_more);
    let state = s.changes_since("a", u64::MAX, 0).await.unwrap();
    assert_eq!((state.floor, state.current), (a[0], a[4]));
    assert!(state.changes.is_empty());
    // The other account's history is its own.
    let b = s.changes_since("b", 0, 100).await.unwrap();
    assert_eq!(b.changes.len(), 4);
    assert!(b.changes.iter().all(|c| !a.contains(&c.seq)));
    // Trimmed on every append of a long run: always the newest `max`.
    let mut more = Vec::new();
    for n in 0..10 {
        more.push(
            s.append_change("b", &event(200 + n), 3)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let b = s.changes_since("b", 0, 100).await.unwrap();
    let kept: Vec<u64> = b.changes.iter().map(|c| c.seq).collect();
    assert_eq!(kept, more[7..].to_vec());
    assert_eq!(b.floor, more[6]);
}

async fn changes_only_for_existing_accounts_and_gone_with_them(f: Fixture) {
    let s = &f.store;
    assert_eq!(s.append_change("ghost", &event(0), 10).await.unwrap(), None);
    s.put_account(&account("acc")).await.unwrap();
    let first = s.append_change("acc", &event(1), 1).await.unwrap().unwrap();
    let second = s.append_change("acc", &event(2), 1).await.unwrap().unwrap();
    assert_eq!(s.changes_since("acc", 0, 10).await.unwrap().floor, first);
    assert!(s.delete_account("acc").await.unwrap());
    let gone = s.changes_since("acc", 0, 10).await.unwrap();
    assert_eq!(
        (gone.floor, gone.current),
        (0, 0),
        "dropped with the account"
    );
    assert!(gone.changes.is_empty());
    assert_eq!(s.append_change("acc", &event(3), 10).await.unwrap(), None);
    assert_eq!(
        f.account_keys(),
        Vec::<String>::new(),
        "no key outlives its account"
    );
    // Registered again, its numbers continue past every number handed out before.
    s.put_account(&account("acc")).await.unwrap();
    let again = s
        .append_change("acc", &event(4), 10)
        .await
        .unwrap()
        .unwrap();
    assert!(again > second);
}

fn events(range: std::ops::Range<u32>) -> Vec<Vec<u8>> {
    range.map(event).collect()
}

fn seqs(page: &imapapi_common::store::changes::ChangePage) -> Vec<u64> {
    page.changes.iter().map(|c| c.seq).collect()
}

async fn changes_appended_in_batches_keep_the_single_form_invariants(f: Fixture) {
    let s = &f.store;
    assert_eq!(
        s.append_changes("ghost", events(0..3), 10).await.unwrap(),
        None
    );
    s.put_account(&account("a")).await.unwrap();
    s.put_account(&account("b")).await.unwrap();
    assert_eq!(
        s.append_changes("a", Vec::new(), 10).await.unwrap(),
        Some(Vec::new()),
        "an empty batch records nothing"
    );
    let first = s
        .append_changes("a", events(0..5), 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.len(), 5);
    assert!(first.windows(2).all(|w| w[1] > w[0]), "in order: {first:?}");
    let between = s.append_change("b", &event(99), 10).await.unwrap().unwrap();
    let second = s
        .append_changes("a", events(5..8), 10)
        .await
        .unwrap()
        .unwrap();
    assert!(first[4] < between && between < second[0], "gateway-wide");
    let page = s.changes_since("a", 0, 100).await.unwrap();
    assert_eq!(seqs(&page), [first.clone(), second.clone()].concat());
    let stored: Vec<Vec<u8>> = page.changes.iter().map(|c| c.event.clone()).collect();
    assert_eq!(stored, events(0..8), "byte for byte, in order");
    assert_eq!((page.floor, page.current), (0, second[2]));

    // A batch past `max` keeps the newest `max`, its own older events dropped too.
    let big = s
        .append_changes("b", events(0..7), 3)
        .await
        .unwrap()
        .unwrap();
    let b = s.changes_since("b", 0, 100).await.unwrap();
    assert_eq!(seqs(&b), big[4..].to_vec());
    assert_eq!((b.floor, b.current), (big[3], big[6]));
    // A long run of batches over a full history: always the newest `max`.
    let mut all = Vec::new();
    for round in 0..20 {
        let batch = events(round * 50..round * 50 + 50);
        all.extend(s.append_changes("a", batch, 120).await.unwrap().unwrap());
    }
    let page = s.changes_since("a", 0, 1000).await.unwrap();
    assert_eq!(seqs(&page), all[all.len() - 120..].to_vec());
    assert_eq!(page.floor, all[all.len() - 121]);
    assert_eq!(page.changes[0].event, event(880));

    assert!(s.delete_account("a").await.unwrap());
    assert!(s.delete_account("b").await.unwrap());
    assert_eq!(s.append_changes("a", events(0..2), 10).await.unwrap(), None);
    let gone = s.changes_since("a", 0, 10).await.unwrap();
    assert_eq!(
        (gone.floor, gone.current),
        (0, 0),
        "nothing for a gone account"
    );
    assert_eq!(f.account_keys(), Vec::<String>::new());
}

async fn owner_and_state_read_together_as_apart(f: Fixture) {
    let s = &f.store;
    s.put_account(&account("a")).await.unwrap();
    assert_eq!(
        s.owner_and_state("a").await.unwrap(),
        (None, 0),
        "nobody, no history"
    );
    let ttl = Duration::from_millis(300);
    assert!(s.acquire_lease("a", "node-1", ttl).await.unwrap());
    let numbers = s
        .append_changes("a", events(0..3), 10)
        .await
        .unwrap()
        .unwrap();
    let (owner, state) = s.owner_and_state("a").await.unwrap();
    assert_eq!(owner.as_deref(), Some("node-1"));
    assert_eq!(state, *numbers.last().unwrap());
    assert_eq!(
        state,
        s.changes_since("a", u64::MAX, 0).await.unwrap().current
    );
    // The history trimmed to one: the state is still the newest number.
    s.append_changes("a", events(3..8), 1)
        .await
        .unwrap()
        .unwrap();
    let current = s.changes_since("a", u64::MAX, 0).await.unwrap().current;
    assert_eq!(s.owner_and_state("a").await.unwrap().1, current);
    // An expired lease has no owner, as lease_owner says.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(s.lease_owner("a").await.unwrap(), None);
    assert_eq!(s.owner_and_state("a").await.unwrap(), (None, current));
    assert_eq!(s.owner_and_state("unknown").await.unwrap(), (None, 0));
}
