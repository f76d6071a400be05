//! Where a UID sits in the selected folder: how many messages have a lower UID, which is
//! the sequence number of the highest of them. A listing by cursor ("the page below UID
//! c") turns into the same `FETCH lo:hi` as a listing by page number with it, so a page
//! deep in a 100,000-message folder costs a few small round trips, never a folder-wide
//! SEARCH or FETCH.
//!
//! Not ESEARCH (`SEARCH RETURN (COUNT) UID 1:c-1`), though it would answer in one round
//! trip: every response is read through async-imap's parser (imap-proto), which has no
//! grammar for `* ESEARCH`, and a response it cannot parse ends the connection. Sequence
//! numbers and UIDs rise together, so FETCHes of a few UIDs answer the question on every
//! IMAP4rev1 server.

use imap_proto::{AttributeValue, Response};

use super::{Imap, ImapError};

/// Sequence numbers probed per round when the cursor's own message is gone: a round
/// narrows the search to 1/PROBES of what was left (100,000 messages in three rounds).
const PROBES: u32 = 64;

/// Rounds after which a search that has not converged gives up (the folder kept changing
/// under it); PROBES^6 is far beyond any folder.
const MAX_ROUNDS: usize = 6;

/// What is known of the answer: the messages up to `lo` have a lower UID, those above
/// `hi` do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub lo: u32,
    pub hi: u32,
}

impl Bounds {
    /// The sequence numbers to probe next: all of `lo+1..=hi` when few, else PROBES of them
    /// spread evenly, `hi` last.
    pub fn probes(&self) -> Vec<u32> {
        let span = self.hi - self.lo;
        if span <= PROBES {
            return (self.lo + 1..=self.hi).collect();
        }
        let step = |i: u32| (u64::from(span) * u64::from(i)).div_ceil(u64::from(PROBES)) as u32;
        (1..=PROBES).map(|i| self.lo + step(i)).collect()
    }

    /// Narrow by one probed message (`seq` has `uid`) against the cursor's UID.
    pub fn narrow(&mut self, seq: u32, uid: u32, below: u32) {
        if uid < below {
            self.lo = self.lo.max(seq.min(self.hi));
        } else {
            self.hi = self.hi.min(seq.saturating_sub(1)).max(self.lo);
        }
    }

    pub fn settled(&self) -> bool {
        self.lo >= self.hi
    }
}

/// `(seq, uid)` of a FETCH response that carries the UID.
fn seq_uid(r: &Response<'_>) -> Option<(u32, u32)> {
    let Response::Fetch(seq, attrs) = r else {
        return None;
    };
    attrs.iter().find_map(|a| match a {
        AttributeValue::Uid(u) => Some((*seq, *u)),
        _ => None,
    })
}

impl Imap {
    /// How many messages of the selected folder have a UID below `below`.
    pub async fn count_below(&mut self, below: u32) -> Result<u32, ImapError> {
        if below <= 1 || self.exists == 0 {
            return Ok(0);
        }
        if let Some(seq) = self.seq_of_uid(below).await? {
            return Ok(seq - 1);
        }
        self.probe_below(below).await
    }

    /// The sequence number of `uid`, when that message still exists: one `UID FETCH`, the
    /// usual case (a cursor names the lowest message of the page before).
    async fn seq_of_uid(&mut self, uid: u32) -> Result<Option<u32>, ImapError> {
        let mut seq = None;
        self.exec(&format!("UID FETCH {uid} (UID)"), |r| {
            if let Some((s, u)) = seq_uid(r)
                && u == uid
            {
                seq = Some(s);
            }
        })
        .await?;
        Ok(seq)
    }

    /// The count by narrowing rounds of `FETCH a,b,… (UID)` (sequence numbers: no EXPUNGE
    /// may renumber them meanwhile).
    async fn probe_below(&mut self, below: u32) -> Result<u32, ImapError> {
        let mut bounds = Bounds {
            lo: 0,
            hi: self.exists,
        };
        for _ in 0..MAX_ROUNDS {
            if bounds.settled() {
                return Ok(bounds.lo);
            }
            let before = bounds;
            let set = super::num_set(&bounds.probes());
            self.exec(&format!("FETCH {set} (UID)"), |r| {
                if let Some((seq, uid)) = seq_uid(r) {
                    bounds.narrow(seq, uid, below);
                }
            })
            .await?;
            if bounds == before {
                break;
            }
        }
        if bounds.settled() {
            return Ok(bounds.lo);
        }
        Err(ImapError::Refused(
            "could not find the cursor's place in the folder".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run the narrowing against a folder given as its UIDs in sequence order.
    fn count(uids: &[u32], below: u32) -> (u32, usize) {
        let mut b = Bounds {
            lo: 0,
            hi: uids.len() as u32,
        };
        let mut rounds = 0;
        while !b.settled() {
            rounds += 1;
            assert!(rounds < 10, "no convergence: {b:?}");
            for seq in b.probes() {
                b.narrow(seq, uids[seq as usize - 1], below);
            }
        }
        (b.lo, rounds)
    }

    #[test]
    fn finds_how_many_uids_are_below() {
        let uids: Vec<u32> = (1..=300).map(|i| i * 3).collect();
        for below in [1, 2, 3, 4, 299, 300, 301, 450, 900, 901, 5000] {
            let want = uids.iter().filter(|u| **u < below).count() as u32;
            assert_eq!(count(&uids, below).0, want, "below {below}");
        }
        assert_eq!(count(&[], 10).0, 0);
    }

    #[test]
    fn a_large_folder_takes_three_rounds() {
        let uids: Vec<u32> = (1..=100_000).map(|i| i * 2).collect();
        let (n, rounds) = count(&uids, 123_457);
        assert_eq!(n, 61_728);
        assert!(rounds <= 3, "{rounds} rounds");
    }

    #[test]
    fn probes_are_spread_and_end_at_hi() {
        let p = Bounds { lo: 10, hi: 10_010 }.probes();
        assert_eq!(p.len(), PROBES as usize);
        assert_eq!(*p.last().unwrap(), 10_010);
        assert!(p.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Bounds { lo: 3, hi: 6 }.probes(), vec![4, 5, 6]);
    }
}
