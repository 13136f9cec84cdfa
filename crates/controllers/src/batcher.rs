//! Pending-pod batching (upstream §2.2): a window opens on the first provisionable pod and
//! closes when no new pod arrived for the idle duration (1 s) or at the max duration (10 s).
//! Pods still pending open one every 10 s, as upstream's pod controller requeues them. A
//! pending pod that changed since the last round (kube-scheduler re-marked it) opens one
//! once kube-scheduler has had capacity to try it on since that round: at once when every
//! NodeClaim is initialized (the scheduler has seen all the capacity planned and still
//! could not place the pod: it packs differently), and while NodeClaims are still joining,
//! once some more of them initialized and [`CHANGED_GAP`] passed since the last round, so
//! the pods kube-scheduler's packing leaves out get capacity while the rest of the round
//! joins, not after it. A round during a launch plans the pending pods onto the capacity
//! still joining first, so it adds capacity only for pods that no longer fit it. Upstream
//! triggers on every pod event; the gate keeps 20,000 pending pods from paying a solve per
//! re-mark. Neither extends an open window: only a pod not seen in it does.

use std::collections::BTreeMap;

use karpenter_model::time::{SECOND, Time};

/// Upstream's defaults.
pub const BATCH_IDLE: Time = SECOND;
/// Upstream's `BATCH_MAX_DURATION` default.
pub const BATCH_MAX: Time = 10 * SECOND;
/// How often a still-pending pod triggers again.
pub const RETRIGGER: Time = 10 * SECOND;
/// While NodeClaims are joining, the least time between rounds a re-marked pod opens.
pub const CHANGED_GAP: Time = 2 * SECOND;

/// The capacity kube-scheduler can see, as the batcher weighs a re-marked pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capacity {
    /// Every NodeClaim is initialized (or being deleted): nothing is still joining.
    pub all_up: bool,
    /// How many NodeClaims are initialized.
    pub initialized: usize,
}

impl Capacity {
    /// Nothing joining, `n` initialized.
    pub fn up(initialized: usize) -> Self {
        Capacity {
            all_up: true,
            initialized,
        }
    }

    /// NodeClaims still joining, `initialized` of them up.
    pub fn joining(initialized: usize) -> Self {
        Capacity {
            all_up: false,
            initialized,
        }
    }
}

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
    /// Initialized NodeClaims when the last round ran.
    initialized_at_run: usize,
    /// Initialized NodeClaims at the last observation.
    initialized: usize,
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
            initialized_at_run: 0,
            initialized: 0,
        }
    }

    /// Look at the provisionable pods (id and revision); new ones open or extend the window,
    /// changed ones open it once kube-scheduler had capacity to try them on (see the module
    /// comment), and pods still pending re-open it every [`RETRIGGER`].
    pub fn observe<'a>(
        &mut self,
        pending: impl Iterator<Item = (&'a str, u64)>,
        capacity: Capacity,
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
        self.initialized = capacity.initialized;
        let tried = capacity.all_up
            || (capacity.initialized > self.initialized_at_run
                && self.last_run.is_none_or(|t| now - t >= CHANGED_GAP));
        let changed = any && self.changed && tried;
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
        self.initialized_at_run = self.initialized;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every NodeClaim up.
    const UP: Capacity = Capacity {
        all_up: true,
        initialized: 0,
    };
    /// NodeClaims joining, none initialized yet.
    const JOINING: Capacity = Capacity {
        all_up: false,
        initialized: 0,
    };

    /// Pods at revision 0.
    fn ids<'a>(names: &'a [&'a str]) -> impl Iterator<Item = (&'a str, u64)> + 'a {
        names.iter().map(|n| (*n, 0))
    }

    #[test]
    fn idle_closes_the_window() {
        let mut b = Batcher::new(BATCH_IDLE, BATCH_MAX);
        b.observe(ids(&["a"]), UP, 0);
        assert!(!b.ready(500));
        b.observe(ids(&["a", "b"]), UP, 800);
        assert!(!b.ready(1_500), "a new pod extends the idle window");
        assert!(b.ready(1_800));
    }

    #[test]
    fn max_closes_a_busy_window() {
        let mut b = Batcher::new(BATCH_IDLE, BATCH_MAX);
        for t in 0..20 {
            let id = format!("p{t}");
            b.observe(ids(&[id.as_str()]), UP, t * 600);
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
        b.observe(ids(&["a"]), UP, 0);
        b.observe(ids(&["a"]), UP, 900);
        assert!(b.ready(1_000));
        b.done(1_000);
        b.observe(ids(&["a"]), UP, 5_000);
        assert!(!b.ready(6_100), "no retrigger before 10 s");
        b.observe(ids(&["a"]), UP, 11_000);
        assert!(b.ready(12_000));
    }

    #[test]
    fn a_changed_pending_pod_opens_a_window_but_does_not_extend_one() {
        let mut b = Batcher::new(BATCH_IDLE, BATCH_MAX);
        b.observe([("a", 1)].into_iter(), UP, 0);
        b.observe([("a", 2)].into_iter(), UP, 900);
        assert!(
            b.ready(1_000),
            "a changed pod does not extend the open window"
        );
        b.done(1_000);
        b.observe([("a", 2)].into_iter(), UP, 2_000);
        assert!(!b.ready(3_100), "unchanged: no new window before 10 s");
        b.observe([("a", 3)].into_iter(), UP, 3_200);
        assert!(
            b.ready(4_200),
            "kube-scheduler re-marked it: a new window at once"
        );
    }

    #[test]
    fn a_change_while_capacity_joins_waits_for_it() {
        let mut b = Batcher::new(BATCH_IDLE, BATCH_MAX);
        b.observe([("a", 1)].into_iter(), UP, 0);
        assert!(b.ready(1_000));
        b.done(1_000);
        // re-marked while the round's NodeClaims are still joining: no window yet
        b.observe([("a", 2)].into_iter(), JOINING, 2_000);
        assert!(!b.ready(3_500));
        // they are up and the pod is still pending: the change opens one now
        b.observe([("a", 2)].into_iter(), UP, 4_000);
        assert!(!b.ready(4_500));
        assert!(b.ready(5_000));
        b.done(5_000);
        b.observe([("a", 2)].into_iter(), UP, 6_000);
        assert!(!b.ready(7_500), "nothing changed since that round");
    }

    #[test]
    fn a_change_while_capacity_joins_opens_once_more_of_it_is_up_and_the_gap_passed() {
        let mut b = Batcher::new(BATCH_IDLE, BATCH_MAX);
        b.observe([("a", 1)].into_iter(), Capacity::joining(0), 0);
        assert!(b.ready(1_000));
        b.done(1_000);
        // re-marked, some NodeClaims up since the round, but within the gap
        b.observe([("a", 2)].into_iter(), Capacity::joining(3), 2_000);
        assert!(!b.ready(2_900), "inside CHANGED_GAP of the last round");
        // re-marked with no NodeClaim initialized since the round: kube-scheduler had
        // nothing new to try it on
        let mut idle = b.clone();
        idle.observe([("a", 3)].into_iter(), Capacity::joining(0), 3_500);
        assert!(!idle.ready(9_000));
        // past the gap, with more capacity up than at the round: a window opens
        b.observe([("a", 3)].into_iter(), Capacity::joining(3), 3_500);
        assert!(!b.ready(4_000));
        assert!(b.ready(4_500));
        b.done(4_500);
        // the next re-mark needs more NodeClaims up than this round saw
        b.observe([("a", 4)].into_iter(), Capacity::joining(3), 7_000);
        assert!(!b.ready(8_500));
        b.observe([("a", 4)].into_iter(), Capacity::joining(5), 8_600);
        assert!(b.ready(9_600));
    }
}
