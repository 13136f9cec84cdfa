//! Pending-pod batching (upstream §2.2): a window opens on the first provisionable pod and
//! closes when no new pod arrived for the idle duration (1 s) or at the max duration (10 s).
//! Pods still pending are triggered again every 10 s, as upstream's pod controller requeues
//! them.

use std::collections::BTreeSet;

use karpenter_model::time::{SECOND, Time};

/// Upstream's defaults.
pub const BATCH_IDLE: Time = SECOND;
/// Upstream's `BATCH_MAX_DURATION` default.
pub const BATCH_MAX: Time = 10 * SECOND;
/// How often a still-pending pod triggers again.
pub const RETRIGGER: Time = 10 * SECOND;

/// The batching window.
#[derive(Debug, Clone)]
pub struct Batcher {
    idle: Time,
    max: Time,
    open: Option<(Time, Time)>,
    seen: BTreeSet<String>,
    last_run: Option<Time>,
}

impl Batcher {
    /// A batcher with the given idle and max durations.
    pub fn new(idle: Time, max: Time) -> Self {
        Batcher {
            idle,
            max,
            open: None,
            seen: BTreeSet::new(),
            last_run: None,
        }
    }

    /// Look at the provisionable pods; new ones open or extend the window, and pods still
    /// pending re-open it every [`RETRIGGER`].
    pub fn observe<'a>(&mut self, pending: impl Iterator<Item = &'a str>, now: Time) {
        let mut any = false;
        let mut new = false;
        let mut current = BTreeSet::new();
        for id in pending {
            any = true;
            if !self.seen.contains(id) {
                new = true;
            }
            current.insert(id.to_string());
        }
        // pods no longer pending are forgotten, so they count as new if they come back
        self.seen = current;
        let retrigger = any && self.last_run.is_none_or(|t| now - t >= RETRIGGER);
        if new || (retrigger && self.open.is_none()) {
            let start = self.open.map_or(now, |(s, _)| s);
            let last = if new {
                now
            } else {
                self.open.map_or(now, |(_, l)| l)
            };
            self.open = Some((start, last));
        }
    }

    /// Has the window closed (time to provision)?
    pub fn ready(&self, now: Time) -> bool {
        self.open
            .is_some_and(|(start, last)| now - last >= self.idle || now - start >= self.max)
    }

    /// When the window will close, or when pending pods trigger again.
    pub fn next_wake(&self, pending: bool) -> Option<Time> {
        match self.open {
            Some((start, last)) => Some((last + self.idle).min(start + self.max)),
            None if pending => self.last_run.map(|t| t + RETRIGGER),
            None => None,
        }
    }

    /// The batch was provisioned: close the window.
    pub fn done(&mut self, now: Time) {
        self.open = None;
        self.last_run = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_closes_the_window() {
        let mut b = Batcher::new(BATCH_IDLE, BATCH_MAX);
        b.observe(["a"].into_iter(), 0);
        assert!(!b.ready(500));
        b.observe(["a", "b"].into_iter(), 800);
        assert!(!b.ready(1_500), "a new pod extends the idle window");
        assert!(b.ready(1_800));
    }

    #[test]
    fn max_closes_a_busy_window() {
        let mut b = Batcher::new(BATCH_IDLE, BATCH_MAX);
        for t in 0..20 {
            let id = format!("p{t}");
            b.observe([id.as_str()].into_iter(), t * 600);
            if b.ready(t * 600) {
                assert_eq!(t * 600, 10_200);
                return;
            }
        }
        panic!("window never closed");
    }

    #[test]
    fn same_pod_does_not_extend_and_retriggers_after_ten_seconds() {
        let mut b = Batcher::new(BATCH_IDLE, BATCH_MAX);
        b.observe(["a"].into_iter(), 0);
        b.observe(["a"].into_iter(), 900);
        assert!(b.ready(1_000));
        b.done(1_000);
        b.observe(["a"].into_iter(), 5_000);
        assert!(!b.ready(6_100), "no retrigger before 10 s");
        b.observe(["a"].into_iter(), 11_000);
        assert!(b.ready(12_000));
    }
}
