//! Which accounts a supervisor's scan tries to take, given who holds their leases: decided
//! apart from the store (which the supervisor then asks, each claim one atomic step), so
//! the sharing rules are tested on their own.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// An account to try to take: free (or already this node's), or `from` a dead node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub account: String,
    pub from: Option<String>,
}

/// What a scan knows when it plans.
pub struct Scope<'a> {
    /// This node.
    pub node: &'a str,
    /// The live nodes, this one included.
    pub nodes: &'a [String],
    /// Accounts this node may still take before it holds its fair share.
    pub room: usize,
    /// The lease ttl: how long an account over every node's share may stay without owner.
    pub ttl: Duration,
}

/// Accounts seen without an owner while this node had no room, and since when: taken
/// anyway once that lasts a lease ttl, so no account is left alone when the others are
/// busy or dying.
#[derive(Debug, Default)]
pub struct Unowned {
    since: HashMap<String, Instant>,
}

impl Unowned {
    /// Forget the accounts that no longer exist.
    pub fn retain(&mut self, exists: impl Fn(&str) -> bool) {
        self.since.retain(|a, _| exists(a));
    }

    /// The account has an owner now.
    pub fn forget(&mut self, account: &str) {
        self.since.remove(account);
    }

    /// Seen unowned now: whether it has been for `ttl` already.
    fn waited(&mut self, account: &str, ttl: Duration) -> bool {
        let since = *self
            .since
            .entry(account.to_string())
            .or_insert_with(Instant::now);
        since.elapsed() >= ttl
    }
}

/// The claims for `candidates` (accounts not running here, each with its lease owner):
/// free ones and dead nodes' ones up to the room left, and beyond it only an account that
/// has had no owner for a whole lease ttl. A live peer's account is left alone.
pub fn plan(
    candidates: Vec<(String, Option<String>)>,
    scope: &Scope<'_>,
    unowned: &mut Unowned,
) -> Vec<Claim> {
    let mut room = scope.room;
    let mut claims = Vec::new();
    for (account, owner) in candidates {
        let from = match owner {
            Some(o) if o == scope.node => None,
            Some(o) if scope.nodes.contains(&o) => {
                unowned.forget(&account);
                continue;
            }
            other => other,
        };
        if room == 0 {
            if from.is_some() {
                unowned.forget(&account);
                continue;
            }
            if !unowned.waited(&account, scope.ttl) {
                continue;
            }
        }
        room = room.saturating_sub(1);
        claims.push(Claim { account, from });
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<String> {
        vec!["me".to_string(), "peer".to_string()]
    }

    /// Node "me" with `room` left and a 30 s lease ttl.
    fn scope(nodes: &[String], room: usize) -> Scope<'_> {
        Scope {
            node: "me",
            nodes,
            room,
            ttl: Duration::from_secs(30),
        }
    }

    fn candidates(owners: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        owners
            .iter()
            .map(|(a, o)| (a.to_string(), o.map(str::to_string)))
            .collect()
    }

    fn claim(account: &str, from: Option<&str>) -> Claim {
        Claim {
            account: account.to_string(),
            from: from.map(str::to_string),
        }
    }

    #[test]
    fn free_own_and_dead_nodes_accounts_up_to_the_room_left() {
        let nodes = nodes();
        let scope = scope(&nodes, 3);
        let got = plan(
            candidates(&[
                ("a", None),
                ("b", Some("peer")),
                ("c", Some("dead")),
                ("d", Some("me")),
                ("e", None),
            ]),
            &scope,
            &mut Unowned::default(),
        );
        assert_eq!(
            got,
            vec![claim("a", None), claim("c", Some("dead")), claim("d", None)]
        );
    }

    #[test]
    fn beyond_the_room_only_what_stayed_unowned_for_a_ttl() {
        let nodes = nodes();
        let mut unowned = Unowned::default();
        let waiting = scope(&nodes, 0);
        let owners = candidates(&[("a", None), ("c", Some("dead")), ("b", Some("peer"))]);
        assert!(plan(owners.clone(), &waiting, &mut unowned).is_empty());
        assert_eq!(unowned.since.len(), 1, "only the free one is waited for");
        let waited = Scope {
            ttl: Duration::ZERO,
            ..waiting
        };
        assert_eq!(
            plan(owners, &waited, &mut unowned),
            vec![claim("a", None)],
            "a dead node's account waits for its lease to expire"
        );
    }

    #[test]
    fn an_account_taken_meanwhile_is_waited_for_afresh() {
        let nodes = nodes();
        let mut unowned = Unowned::default();
        let scope = scope(&nodes, 0);
        plan(candidates(&[("a", None)]), &scope, &mut unowned);
        plan(candidates(&[("a", Some("peer"))]), &scope, &mut unowned);
        assert!(unowned.since.is_empty());
        unowned.waited("gone", Duration::ZERO);
        unowned.retain(|a| a != "gone");
        assert!(unowned.since.is_empty());
    }
}
