//! Fresh flags for many callers in one FETCH.
//!
//! A details call whose message the cache holds needs only the message's current flags
//! (and Gmail labels). Each such call used to take a command connection for its own
//! `UID FETCH <uid> (UID FLAGS)`, so under concurrent calls the account's few connections
//! made callers queue behind each other's round trips. Calls for one folder that arrive
//! while the connections are busy now wait together and are answered by a single
//! `NOOP` + `UID FETCH <uid>,<uid>,… (UID FLAGS)` on the next free connection.
//!
//! A call only joins a batch whose FETCH has not been sent yet, and a batch on a reused
//! selection starts with a NOOP, so what a caller gets was read after it arrived, with
//! every expunge by another client seen. When a batch cannot be answered (no
//! connection, a lost one, a refusal), its callers are told to take the ordinary path,
//! which retries and names the error.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::command_pool::CommandPool;
use crate::decode::{self, FetchItems};
use crate::imap::{Imap, ImapError, num_set};
use crate::message::Fresh;

/// The most callers one FETCH answers; those beyond it form the next batch, sent on
/// another connection when one is free. Small on purpose: the callers of one batch are
/// answered at once, and each one's reply is then encoded in turn, so the last of a big
/// batch waits for all the others. Measured with 16 clients on a pool of 4 (`cargo bench
/// --bench commands`): batches of up to 256 gave p50 3.3–3.7 ms and p99 13–17 ms; of up
/// to 4, p50 2.6–3.3 ms and p99 7.6–8.5 ms, with a third more calls per second. With the
/// NOOP each batch starts with: up to 8, p99 12–14 ms; up to 4, p99 5.8–8.0 ms.
const MAX_BATCH: usize = 4;

/// What a batched read found for one caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagRead {
    Found(Fresh),
    /// The folder answered without this UID, or it has another UIDVALIDITY now.
    Missing,
    /// The batch could not be answered: run the command the ordinary way.
    Failed,
}

/// A folder as a batch names it: the same path under another UIDVALIDITY is another folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FolderAt {
    path: String,
    uid_validity: u32,
}

struct Caller {
    uid: u32,
    answer: oneshot::Sender<FlagRead>,
}

/// One account's batched flag reads, over its command pool.
pub struct FlagReads {
    pool: Arc<CommandPool>,
    /// Callers whose FETCH has not been sent, by folder; each list has a task waiting for
    /// a connection to send it.
    forming: Mutex<HashMap<FolderAt, Vec<Caller>>>,
    /// Bounds a batch's wait for a connection and its FETCH (`service.commandTimeout`).
    timeout: Duration,
}

impl FlagReads {
    pub fn new(pool: Arc<CommandPool>, timeout: Duration) -> Arc<Self> {
        Arc::new(FlagReads {
            pool,
            forming: Mutex::new(HashMap::new()),
            timeout,
        })
    }

    fn lock_forming(&self) -> std::sync::MutexGuard<'_, HashMap<FolderAt, Vec<Caller>>> {
        self.forming.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current flags of `uid` in the folder at `path`, read together with those of any
    /// other callers waiting for the same folder.
    pub async fn read(self: &Arc<Self>, path: &str, uid_validity: u32, uid: u32) -> FlagRead {
        let at = FolderAt {
            path: path.to_string(),
            uid_validity,
        };
        let (answer, answered) = oneshot::channel();
        if self.join(at.clone(), Caller { uid, answer }) {
            tokio::spawn(self.clone().send_batch(at));
        }
        answered.await.unwrap_or(FlagRead::Failed)
    }

    /// Add a caller to its folder's forming batch; true when it starts one (and so must
    /// start the task that sends it).
    fn join(&self, at: FolderAt, caller: Caller) -> bool {
        match self.lock_forming().entry(at) {
            Entry::Occupied(mut batch) => {
                batch.get_mut().push(caller);
                false
            }
            Entry::Vacant(slot) => {
                slot.insert(vec![caller]);
                true
            }
        }
    }

    /// Take a forming batch once a connection is free (at most [`MAX_BATCH`] callers; the
    /// rest form the next batch, with a task of its own).
    fn take(self: &Arc<Self>, at: &FolderAt) -> Vec<Caller> {
        let mut forming = self.lock_forming();
        let mut callers = forming.remove(at).unwrap_or_default();
        // The rest put back under the same lock: no caller starts a batch meanwhile.
        let more = callers.len() > MAX_BATCH;
        if more {
            forming.insert(at.clone(), callers.split_off(MAX_BATCH));
        }
        drop(forming);
        if more {
            tokio::spawn(self.clone().send_batch(at.clone()));
        }
        callers
    }

    /// Wait for a connection, then answer every caller of the folder's batch with one
    /// FETCH. Callers left unanswered (their sender dropped) take the ordinary path.
    async fn send_batch(self: Arc<Self>, at: FolderAt) {
        let conn = tokio::time::timeout(self.timeout, self.pool.acquire()).await;
        let callers = self.take(&at);
        let Ok(Ok(mut conn)) = conn else { return };
        let uids: Vec<u32> = callers.iter().map(|c| c.uid).collect();
        let read = tokio::time::timeout(self.timeout, fetch_fresh(&mut conn.imap, &at, &uids));
        let found = match read.await {
            Ok(Ok(found)) => {
                conn.release();
                found
            }
            Ok(Err(ImapError::Refused(_) | ImapError::Invalid(_))) => {
                conn.release();
                return;
            }
            // Lost, or cut off mid-command: the connection is closed with `conn`.
            Ok(Err(ImapError::Lost(_))) | Err(_) => return,
        };
        for caller in callers {
            let _ = caller.answer.send(answer_for(&found, caller.uid));
        }
    }
}

/// `None` when the folder has another UIDVALIDITY than the callers' (their ids are stale).
type Found = Option<HashMap<u32, Fresh>>;

async fn fetch_fresh(imap: &mut Imap, at: &FolderAt, uids: &[u32]) -> Result<Found, ImapError> {
    // A NOOP on a reused selection first (one per batch): until the server has told this
    // session of another client's EXPUNGE, which it may not do in answer to a FETCH, it
    // goes on answering for the expunged message with the flags it last reported.
    let validity = imap
        .ensure_selected(&at.path, false, Some(at.uid_validity))
        .await?;
    if validity != at.uid_validity {
        return Ok(None);
    }
    let fresh = read_fresh(imap, &format!("UID FETCH {}", num_set(uids))).await?;
    Ok(Some(fresh.into_iter().map(|f| (f.uid, f)).collect()))
}

/// What can change about the messages `fetch` names (`FETCH <range>` or `UID FETCH
/// <uids>`, selected folder): flags, and Gmail's labels where the server has them. How
/// listings, details and these batches read what the message cache does not keep.
pub async fn read_fresh(imap: &mut Imap, fetch: &str) -> Result<Vec<Fresh>, ImapError> {
    let items = FetchItems::of(imap).fresh();
    imap.fetch_decoded(&format!("{fetch} {items}"), decode::fresh_of)
        .await
}

fn answer_for(found: &Found, uid: u32) -> FlagRead {
    match found.as_ref().and_then(|f| f.get(&uid)) {
        Some(fresh) => FlagRead::Found(fresh.clone()),
        None => FlagRead::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_caller_gets_its_own_uid_or_missing() {
        let fresh = |uid| Fresh {
            uid,
            flags: vec!["\\Seen".into()],
            labels: None,
        };
        let found: Found = Some([(3, fresh(3)), (5, fresh(5))].into_iter().collect());
        assert_eq!(answer_for(&found, 5), FlagRead::Found(fresh(5)));
        assert_eq!(answer_for(&found, 4), FlagRead::Missing);
        assert_eq!(answer_for(&None, 3), FlagRead::Missing, "stale UIDVALIDITY");
    }
}
