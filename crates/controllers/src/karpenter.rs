//! Karpenter's loops composed: interruption, NodeClaim lifecycle, batching and
//! provisioning, termination, in upstream's order within one reconcile pass. Generic over
//! the cloud port; time comes in as `now` (virtual in the simulator, a wall clock in the
//! controller). Each pass says when it next needs to run.

use std::sync::Arc;

use karpenter_cloud::CloudProvider;
use karpenter_model::InstanceType;
use karpenter_model::time::{SECOND, Time};

use crate::batcher::{BATCH_IDLE, BATCH_MAX, Batcher, Capacity};
use crate::catalog::{Catalog, CatalogCache};
use crate::disruption::Disruption;
use crate::events::Recorder;
use crate::input::Setup;
use crate::lifecycle::{launch, register_and_initialize};
use crate::provisioner::{Namer, provision, provisionable};
use crate::state::ClaimState;
use crate::state::ClusterState;
use crate::termination::terminate;
use crate::{interruption, lifecycle};

/// Settings (upstream's environment / Helm values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `BATCH_IDLE_DURATION`.
    pub batch_idle: Time,
    /// `BATCH_MAX_DURATION`.
    pub batch_max: Time,
    /// `PROVISION_UNTRIED_PODS` (ours; upstream waits for the mark): plan pending pods
    /// kube-scheduler has not tried yet too, so capacity is on its way before the scheduler
    /// reaches them in a long queue.
    pub provision_untried: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            batch_idle: BATCH_IDLE,
            batch_max: BATCH_MAX,
            provision_untried: true,
        }
    }
}

/// Statistics of provisioning rounds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProvisioningStats {
    /// Rounds run.
    pub rounds: u64,
    /// NodeClaims created.
    pub claims: u64,
    /// Pods the last round could not place.
    pub last_unschedulable: usize,
    /// Pods the last round placed (on new NodeClaims or on capacity already there).
    pub last_pods: usize,
    /// NodeClaims the last round created.
    pub last_claims: usize,
}

/// The controller.
#[derive(Debug, Clone)]
pub struct Karpenter {
    /// NodePools, DaemonSets, engine options.
    pub setup: Setup,
    /// Settings.
    pub settings: Settings,
    /// Events and counters.
    pub recorder: Recorder,
    /// Provisioning statistics.
    pub stats: ProvisioningStats,
    batcher: Batcher,
    namer: Namer,
    disruption: Disruption,
    /// The catalog solves use.
    catalog: CatalogCache,
    /// Cluster generation and catalog of the last solve that created nothing.
    settled: Option<(u64, Arc<Vec<InstanceType>>)>,
    /// The static half of provisioning solves.
    prepared: Option<karpenter_scheduling::Prepared>,
}

impl Karpenter {
    /// A controller for `setup`.
    pub fn new(setup: Setup, settings: Settings) -> Self {
        Karpenter {
            setup,
            settings,
            recorder: Recorder::default(),
            stats: ProvisioningStats::default(),
            batcher: Batcher::new(settings.batch_idle, settings.batch_max),
            namer: Namer::default(),
            disruption: Disruption::default(),
            catalog: CatalogCache::default(),
            settled: None,
            prepared: None,
        }
    }

    /// Use a new setup (NodePools or DaemonSets changed): the caches built from the old one
    /// (usable types, the prepared solve, the settled mark) are dropped.
    pub fn set_setup(&mut self, setup: Setup) {
        self.setup = setup;
        self.catalog.clear();
        self.settled = None;
        self.prepared = None;
    }

    /// Start NodeClaim names at `n` (a controller seeds it from the clock at start).
    pub fn seed_names(&mut self, n: u64) {
        self.namer = Namer::starting_at(n);
    }

    /// One pass of every loop at `now`. Returns when the next pass is needed (at least
    /// `now + 1s` when something is in progress), or `None` when idle until the cluster
    /// changes.
    pub fn reconcile<C: CloudProvider>(
        &mut self,
        state: &mut ClusterState,
        cloud: &mut C,
        now: Time,
    ) -> Option<Time> {
        interruption::handle(state, cloud, now, &mut self.recorder);
        launch(state, cloud, now, &mut self.recorder);
        register_and_initialize(state, now, &mut self.recorder);
        let pending: Vec<(String, u64)> = provisionable(state, self.settings.provision_untried)
            .iter()
            .map(|p| (p.id.clone(), p.revision))
            .collect();
        // what kube-scheduler has been able to try the pending pods on
        let claims = state.claims().values();
        let initialized = claims
            .clone()
            .filter(|c| c.initialized_at.is_some())
            .count();
        let joining = claims
            .filter(|c| c.initialized_at.is_none() && c.deleting_since.is_none())
            .count();
        let capacity = if joining == 0 {
            Capacity::up(initialized)
        } else {
            Capacity::joining(initialized)
        };
        self.batcher.observe(
            pending.iter().map(|(id, r)| (id.as_str(), *r)),
            capacity,
            now,
        );
        if self.batcher.ready(now) {
            let types = self.catalog(cloud, now);
            // the engine is deterministic: the same cluster and catalog as a round that
            // created nothing would create nothing again
            let settled = self
                .settled
                .as_ref()
                .is_some_and(|(g, t)| *g == state.generation() && *t == types);
            if !settled {
                let before = state.claims().len();
                let generation = state.generation();
                let plan = provision(
                    &self.setup,
                    state,
                    types.clone(),
                    now,
                    &mut self.namer,
                    &mut self.recorder,
                    &mut self.prepared,
                    self.settings.provision_untried,
                );
                self.stats.rounds += 1;
                let created = state.claims().len().saturating_sub(before);
                self.stats.claims += created as u64;
                self.stats.last_unschedulable = plan.unschedulable.len();
                self.stats.last_claims = created;
                self.stats.last_pods = plan.claims.iter().map(|c| c.pods.len()).sum::<usize>()
                    + plan.existing.iter().map(|n| n.pods.len()).sum::<usize>();
                self.settled = (created == 0).then_some((generation, types));
                launch(state, cloud, now, &mut self.recorder);
            }
            self.batcher.done(now);
        }
        let mut disruption_wake = None;
        if !self.setup.disruption.is_empty() && self.disruption.due(state, now, &mut self.recorder)
        {
            let types = self.catalog(cloud, now);
            let drifted = |c: &ClaimState| {
                let pid = &c.launched.as_ref()?.provider_id;
                cloud
                    .get(pid)
                    .ok()
                    .and_then(|i| cloud.is_drifted(&i).ok().flatten())
            };
            disruption_wake = self.disruption.reconcile(
                &self.setup,
                state,
                types,
                &drifted,
                now,
                &mut self.namer,
                &mut self.recorder,
            );
            launch(state, cloud, now, &mut self.recorder);
        } else if !self.setup.disruption.is_empty() {
            disruption_wake = self.disruption.next_wake(state, now);
        }
        terminate(state, cloud, now, &mut self.recorder);
        let wake = self.next_wake(state, now, !pending.is_empty());
        match (wake, disruption_wake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The catalog for this pass ([`CatalogCache::get`]).
    fn catalog<C: CloudProvider>(&mut self, cloud: &C, now: Time) -> Catalog {
        self.catalog.get(&mut self.setup, cloud, now)
    }

    fn next_wake(&self, state: &ClusterState, now: Time, pending: bool) -> Option<Time> {
        let busy = state
            .claims()
            .values()
            .any(|c| c.deleting_since.is_some() || c.initialized_at.is_none());
        let mut wake = self.batcher.next_wake(pending);
        if busy {
            wake = Some(wake.map_or(now + SECOND, |w| w.min(now + SECOND)));
        }
        let _ = lifecycle::LAUNCH_TIMEOUT;
        wake.map(|w| w.max(now + 1))
    }
}
