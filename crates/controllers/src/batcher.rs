//! Pending-pod batching (upstream §2.2): a window opens on the first provisionable pod and
//! closes when no new pod arrived for the idle duration (1 s) or at the max duration (10 s).
//! Pods still pending open one every 10 s, as upstream's pod controller requeues them. A
//! pending pod that changed since the last round (kube-scheduler re-marked it) opens one at
//! once, but only when every NodeClaim is initialized: the scheduler has then seen all the
//! capacity the last round planned and still could not place the pod (it packs
//! differently), while re-marks during a launch are expected and would only cost solves.
//! Upstream triggers on every pod event; gating them keeps 20,000 pending pods from paying
//! a solve per re-mark. Neither extends an open window: only a pod not seen in it does.

use std::collections::BTreeMap;

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
    /// Pending pods and the revision each was last seen at.
    seen: BTreeMap<String, u64>,
    /// A pending pod changed since the last round.
    changed: bool,
    last_run: Option<Time>,
}

impl Batcher {
    /// A batcher with the given idle and max durations.
    pub fn new(idle: Time, max: Time) -> Self {
        Batcher {
            idle,
            max,
            open: None,
            seen: BTreeMap::new(),
            changed: false,
            last_run: None,
        }
    }

    /// Look at the provisionable pods (id and revision); new ones open or extend the window,
    /// changed ones open it once `capacity_up` (no NodeClaim still joining), and pods still
    /// pending re-open it every [`RETRIGGER`].
    pub fn observe<'a>(
        &mut self,
        pending: impl Iterator<Item = (&'a str, u64)>,
        capacity_up: bool,
        now: Time,
    ) {
        let mut any = false;
        let mut new = false;
        let mut current = BTreeMap::new();
        for (id, revision) in pending {
            any = true;
            match self.seen.get(id) {
                None => new = true,
                Some(r) if *r != revision => self.changed = true,
                Some(_) => {}
            }
            current.insert(id.to_string(), revision);
        }
        // pods no longer pending are forgotten, so they count as new if they come back
        self.seen = current;
        let changed = any && self.changed && capacity_up;
        let retrigger = changed || (any && self.last_run.is_none_or(|t| now - t >= RETRIGGER));
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
        self.changed = false;
        self.last_run = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pods at revision 0.
    fn ids<'a>(names: &'a [&'a str]) -> impl Iterator<Item = (&'a str, u64)> + 'a {
        names.iter().map(|n| (*n, 0))
    }

    #[test]
    fn idle_closes_the_window() {
        let mut b = Batcher::new(BATCH_IDLE, BATCH_MAX);
        b.observe(ids(&["a"]), true, 0);
        assert!(!b.ready(500));
        b.observe(ids(&["a", "b"]), true, 800);
        assert!(!b.ready(1_500), "a new pod extends the idle window");
        assert!(b.ready(1_800));
    }

    #[test]
    fn max_closes_a_busy_window() {
        let mut b = Batcher::new(BATCH_IDLE, BATCH_MAX);
        for t in 0..20 {
            let id = format!("p{t}");
            b.observe(ids(&[id.as_str()]), true, t * 600);
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
        b.observe(ids(&["a"]), true, 0);
        b.observe(ids(&["a"]), true, 900);
        assert!(b.ready(1_000));
        b.done(1_000);
        b.observe(ids(&["a"]), true, 5_000);
        assert!(!b.ready(6_100), "no retrigger before 10 s");
        b.observe(ids(&["a"]), true, 11_000);
        assert!(b.ready(12_000));
    }

    #[test]
    fn a_changed_pending_pod_opens_a_window_but_does_not_extend_one() {
        let mut b = Batcher::new(BATCH_IDLE, BATCH_MAX);
        b.observe([("a", 1)].into_iter(), true, 0);
        b.observe([("a", 2)].into_iter(), true, 900);
        assert!(
            b.ready(1_000),
            "a changed pod does not extend the open window"
        );
        b.done(1_000);
        b.observe([("a", 2)].into_iter(), true, 2_000);
        assert!(!b.ready(3_100), "unchanged: no new window before 10 s");
        b.observe([("a", 3)].into_iter(), true, 3_200);
        assert!(
            b.ready(4_200),
            "kube-scheduler re-marked it: a new window at once"
        );
    }

    #[test]
    fn a_change_while_capacity_joins_waits_for_it() {
        let mut b = Batcher::new(BATCH_IDLE, BATCH_MAX);
        b.observe([("a", 1)].into_iter(), true, 0);
        assert!(b.ready(1_000));
        b.done(1_000);
        // re-marked while the round's NodeClaims are still joining: no window yet
        b.observe([("a", 2)].into_iter(), false, 2_000);
        assert!(!b.ready(3_500));
        // they are up and the pod is still pending: the change opens one now
        b.observe([("a", 2)].into_iter(), true, 4_000);
        assert!(!b.ready(4_500));
        assert!(b.ready(5_000));
        b.done(5_000);
        b.observe([("a", 2)].into_iter(), true, 6_000);
        assert!(!b.ready(7_500), "nothing changed since that round");
    }
}
