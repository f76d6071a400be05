//! Delays on a broker without a delay plugin: a fixed ladder of queues whose messages
//! expire after 100 ms, 200 ms, 400 ms, … 2^21 × 100 ms (about 58 hours) and then
//! dead-letter back into the work queue. A message that must wait `w` goes to the longest
//! step not above `w`; when it comes back early, the consumer sends it down the ladder
//! again (see `consume.rs`), so any wait, a retry's jittered backoff or a send scheduled
//! days ahead, takes at most a few dozen hops through a fixed set of queues, instead of one
//! queue per distinct delay. Each step queue has one TTL for all its messages, so they
//! expire in the order they arrived and none waits behind a longer one.

use std::time::Duration;

/// The shortest step, and the most a delayed message may arrive early.
pub(super) const STEP: Duration = crate::bus::DELAY_TOLERANCE;
/// Number of steps: `STEP * 2^0 ..= STEP * 2^(STEPS - 1)`.
pub(super) const STEPS: u32 = 22;

/// Every step of the ladder, shortest first.
pub(super) fn steps() -> impl Iterator<Item = Duration> {
    (0..STEPS).map(|k| STEP * (1u32 << k))
}

/// The step for a message that must still wait `wait`: the longest not above it by more
/// than half the shortest step, or `None` when the wait is under half the shortest step
/// (deliver now). Rounding to the nearest keeps a delivery within `STEP / 2` of its time,
/// even for a wait that is a step exactly, minus the moment it took to publish.
pub(super) fn step_for(wait: Duration) -> Option<Duration> {
    let reach = wait + STEP / 2;
    steps().take_while(|s| *s <= reach).last()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_take_the_longest_step_not_above_them() {
        assert_eq!(step_for(Duration::from_millis(49)), None);
        assert_eq!(step_for(Duration::from_millis(98)), Some(STEP));
        assert_eq!(
            step_for(Duration::from_millis(199)),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            step_for(Duration::from_millis(1_500)),
            Some(Duration::from_millis(800))
        );
        let longest = STEP * (1 << (STEPS - 1));
        assert_eq!(step_for(Duration::from_secs(30 * 86_400)), Some(longest));
    }

    #[test]
    fn a_wait_halves_at_least_per_hop() {
        let mut wait = Duration::from_secs(3 * 3_600 + 17);
        let mut hops = 0;
        while let Some(step) = step_for(wait) {
            wait = wait.saturating_sub(step);
            hops += 1;
        }
        assert!(wait < STEP / 2);
        assert!(hops <= STEPS as usize, "{hops} hops");
    }
}
