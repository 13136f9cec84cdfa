//! The simulation loop in virtual time: timeline events, the cloud, the kubelets, the
//! workload controllers, the kube-scheduler stand-in and the autoscaler (Karpenter or the
//! Cluster Autoscaler baseline) each say when they next need to run, and time jumps there.
//! Samples, time-to-schedule, churn and invariant checks are collected on the way, and the
//! scenario's faults (API errors, nodes that never register, process restarts, interruption
//! storms) are injected into every autoscaler's run alike.

use std::collections::BTreeMap;

use karpenter_cloud::sim::{CapacityLimit, OfferingMatch, Record, SimCloud, SimConfig};
use karpenter_controllers::{ClusterState, Karpenter, Recorder, Settings};
use karpenter_model::time::{HOUR, MINUTE, SECOND, Time};
use karpenter_scheduling::{ExistingNode, daemonset_overhead};

use crate::build::Built;
use crate::ca::ClusterAutoscaler;
use crate::kubelet::{GroupNodeSpec, Kubelet};
use crate::scenario::{OfferingSpec, Scenario, ScenarioError};
use crate::scheduler::schedule;
use crate::workloads::Workloads;

/// Which autoscaler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// karpenter-rs.
    Karpenter,
    /// karpenter-rs with consolidation off (every NodePool `WhenEmpty`): what provisioning
    /// alone achieves, to attribute the saving.
    KarpenterNoConsolidation,
    /// The Cluster Autoscaler baseline.
    ClusterAutoscaler,
}

impl Which {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Which::Karpenter => "karpenter",
            Which::KarpenterNoConsolidation => "karpenter-no-consolidation",
            Which::ClusterAutoscaler => "cluster-autoscaler",
        }
    }
}

/// Faults injected into a run, and what they caused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Launch calls failed with an injected API error.
    pub api_errors: u64,
    /// Instances that never registered.
    pub never_registered: u64,
    /// Autoscaler restarts.
    pub restarts: u64,
    /// Spot instances reclaimed by interruption storms.
    pub storm_interruptions: u64,
}

impl FaultCounts {
    /// Every fault injected.
    pub fn total(&self) -> u64 {
        self.api_errors + self.never_registered + self.restarts + self.storm_interruptions
    }
}

/// One point of the time series.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Time from the start.
    pub t: Time,
    /// Nodes registered.
    pub nodes: usize,
    /// Pods not bound.
    pub pending: usize,
    /// Pods bound.
    pub bound: usize,
    /// vCPUs of running instances by `<capacity type> <instance family>`.
    pub mix: BTreeMap<String, f64>,
    /// Price per hour of every instance.
    pub cost_per_hour: f64,
    /// CPU requested by pods (and DaemonSets) over CPU allocatable of ready nodes.
    pub cpu_utilisation: f64,
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Which autoscaler.
    pub autoscaler: Which,
    /// Time series.
    pub samples: Vec<Sample>,
    /// Time from creation to binding of every bound pod.
    pub waits: Vec<Time>,
    /// Pods pending for more than 15 minutes at the end.
    pub stuck: Vec<String>,
    /// Dollars spent.
    pub cost: f64,
    /// Instances launched.
    pub launched: u64,
    /// Capacity errors.
    pub capacity_errors: u64,
    /// Invariant violations (must be empty).
    pub violations: Vec<String>,
    /// Events and counters.
    pub recorder: Recorder,
    /// Pods created.
    pub pods_created: u64,
    /// Simulated span.
    pub duration: Time,
    /// Evictions through the Eviction API.
    pub evictions: u64,
    /// Price per hour of the capacity running at the end.
    pub final_cost_per_hour: f64,
    /// Price per hour of a fresh Karpenter plan for the pods bound at the end, on an empty
    /// cluster: what a perfectly consolidated cluster would cost.
    pub fresh_cost_per_hour: f64,
    /// Every instance's life.
    pub records: Vec<Record>,
    /// Running pods lost and restarted.
    pub restarted: u64,
    /// Pod-time lost to restarts (loss to the replacement's binding), summed.
    pub downtime: Time,
    /// Faults injected.
    pub faults: FaultCounts,
}

impl Outcome {
    /// Dollars the same instance-hours would have cost on demand.
    pub fn on_demand_equivalent(&self) -> f64 {
        self.records
            .iter()
            .map(|r| {
                let end = r.ended_at.unwrap_or(self.duration);
                r.on_demand_price * (end - r.launched_at).max(0) as f64 / HOUR as f64
            })
            .sum()
    }
}

enum Scaler {
    Karpenter(Box<Karpenter>),
    Ca(Box<ClusterAutoscaler>),
}

#[derive(Debug, Clone)]
enum Action {
    Scale(String, u32),
    Job(String, u32, Time),
    Interrupt(OfferingMatch, f64),
    Shortage(OfferingMatch, Time),
    /// An interruption of a storm (counted as a fault).
    Storm(OfferingMatch, f64),
    Restart,
}

fn offering_match(o: &OfferingSpec) -> OfferingMatch {
    OfferingMatch {
        instance_types: o.instance_types.clone(),
        zones: o.zones.clone(),
        capacity_type: o.capacity_type.clone(),
    }
}

fn timeline(s: &Scenario, end: Time) -> Result<Vec<(Time, usize, Action)>, ScenarioError> {
    let mut out = Vec::new();
    for (i, e) in s.events.iter().enumerate() {
        let at = s.duration_of(&format!("events[{i}].at"), &e.at)?;
        if let Some(x) = &e.scale {
            out.push((at, i, Action::Scale(x.workload.clone(), x.replicas)));
        }
        if let Some(d) = &e.daily {
            let peak = match &d.peak {
                Some(p) => s.duration_of(&format!("events[{i}].daily.peak"), p)?,
                None => 14 * HOUR,
            };
            let every = match &d.every {
                Some(p) => s.duration_of(&format!("events[{i}].daily.every"), p)?,
                None => 15 * MINUTE,
            }
            .max(MINUTE);
            let mut t = at;
            while t < end {
                let phase = ((t - peak) as f64 / (24 * HOUR) as f64) * std::f64::consts::TAU;
                let level = 0.5 + 0.5 * phase.cos();
                let replicas = f64::from(d.min) + level * f64::from(d.max - d.min);
                out.push((
                    t,
                    i,
                    Action::Scale(d.workload.clone(), replicas.round() as u32),
                ));
                t += every;
            }
        }
        if let Some(j) = &e.job {
            let run_for = s.duration_of(&format!("events[{i}].job.runFor"), &j.run_for)?;
            out.push((at, i, Action::Job(j.name.clone(), j.pods, run_for)));
        }
        if let Some(x) = &e.interrupt {
            out.push((
                at,
                i,
                Action::Interrupt(offering_match(&x.offerings), x.fraction),
            ));
        }
        if let Some(x) = &e.shortage {
            let d = s.duration_of(&format!("events[{i}].shortage.duration"), &x.duration)?;
            out.push((at, i, Action::Shortage(offering_match(&x.offerings), d)));
        }
    }
    if let Some(f) = &s.faults {
        let base = s.events.len();
        for (k, t) in f.restarts.iter().enumerate() {
            let at = s.duration_of(&format!("faults.restarts[{k}]"), t)?;
            out.push((at, base + k, Action::Restart));
        }
        for (k, st) in f.interruption_storms.iter().enumerate() {
            let path = format!("faults.interruptionStorms[{k}]");
            let at = s.duration_of(&format!("{path}.at"), &st.at)?;
            let every = s.duration_of(&format!("{path}.every"), &st.every)?;
            for n in 0..st.count {
                let m = offering_match(&st.offerings);
                out.push((
                    at + every * i64::from(n),
                    base + f.restarts.len() + k,
                    Action::Storm(m, st.fraction),
                ));
            }
        }
    }
    out.sort_by_key(|(t, i, _)| (*t, *i));
    Ok(out)
}

/// Run `scenario` with one autoscaler. `progress` is called with (now, end) as time moves.
pub fn run(
    scenario: &Scenario,
    built: &Built,
    which: Which,
    progress: &mut dyn FnMut(Time, Time),
) -> Result<Outcome, ScenarioError> {
    let end = scenario.duration_of("duration", &scenario.duration)?;
    let every = match &scenario.sample_every {
        Some(t) => scenario.duration_of("sampleEvery", t)?.max(1_000),
        None => MINUTE,
    };
    let c = &scenario.cloud;
    let faults = scenario.faults.clone().unwrap_or_default();
    let config = SimConfig {
        boot: scenario.latency_of("cloud.bootLatency", &c.boot_latency)?,
        api_error_rate: faults.api_error_rate,
        capacity: c
            .capacity
            .iter()
            .map(|l| CapacityLimit {
                matching: offering_match(&l.offerings),
                max: l.max,
            })
            .collect(),
        seed: scenario.seed,
        ..SimConfig::default()
    };
    let mut cloud = SimCloud::new(built.catalog.clone(), config);
    let mut kubelet = Kubelet::new(
        scenario.latency_of("cloud.registrationLatency", &c.registration_latency)?,
        scenario.latency_of("cloud.readyLatency", &c.ready_latency)?,
        scenario.seed,
    );
    kubelet.never_register_rate = faults.never_register_rate;
    let mut counts = FaultCounts::default();
    let settings = Settings::default();
    let setup = match which {
        Which::KarpenterNoConsolidation => without_consolidation(&built.setup),
        _ => built.setup.clone(),
    };
    let mut state = ClusterState::default();
    state.pdbs = built.pdbs.clone();
    let mut scaler = match which {
        Which::Karpenter | Which::KarpenterNoConsolidation => {
            Scaler::Karpenter(Box::new(Karpenter::new(setup.clone(), settings)))
        }
        Which::ClusterAutoscaler => {
            let spec =
                scenario
                    .cluster_autoscaler
                    .as_ref()
                    .ok_or_else(|| ScenarioError::Invalid {
                        name: scenario.name.clone(),
                        path: "clusterAutoscaler".into(),
                        message: "the scenario declares no node groups".into(),
                    })?;
            Scaler::Ca(Box::new(ClusterAutoscaler::new(
                scenario,
                spec,
                &built.catalog,
                built.setup.daemonsets.clone(),
            )?))
        }
    };
    let groups: GroupNodeSpec = match &scaler {
        Scaler::Ca(ca) => ca.node_specs(),
        Scaler::Karpenter(_) => BTreeMap::new(),
    };
    let mut workloads = Workloads::default();
    for w in &scenario.workloads {
        if let Some(t) = built.templates.get(&w.name) {
            workloads.deploy(&w.name, t.clone(), w.replicas);
        }
    }
    let events = timeline(scenario, end)?;
    let mut next_event = 0;
    let mut samples = Vec::new();
    let mut next_sample = 0;
    let mut waits = Vec::new();
    let mut violations = Vec::new();
    let mut now: Time = 0;
    let mut dirty = true;
    let mut last_schedule: Time = 0;
    loop {
        while next_event < events.len() && events[next_event].0 <= now {
            match &events[next_event].2 {
                Action::Scale(w, r) => workloads.scale(w, *r),
                Action::Job(name, pods, run_for) => {
                    if let Some(t) = built.templates.get(name) {
                        workloads.start_job(name, t.clone(), *pods, *run_for);
                    }
                }
                Action::Interrupt(m, f) => {
                    cloud.interrupt_spot(m, *f, now);
                }
                Action::Shortage(m, d) => cloud.add_shortage(m.clone(), now, now + d),
                Action::Storm(m, f) => {
                    counts.storm_interruptions += cloud.interrupt_spot(m, *f, now) as u64;
                }
                Action::Restart => {
                    counts.restarts += 1;
                    match &mut scaler {
                        Scaler::Karpenter(k) => {
                            // a new process: nothing survives but what the cluster and the
                            // cloud hold (the event log is the report's, not the process's)
                            let recorder = std::mem::take(&mut k.recorder);
                            let mut fresh = Karpenter::new(setup.clone(), settings);
                            fresh.recorder = recorder;
                            fresh.seed_names((now / 1000) as u64);
                            **k = fresh;
                        }
                        Scaler::Ca(ca) => ca.restart(&mut state),
                    }
                }
            }
            next_event += 1;
        }
        cloud.advance(now);
        dirty |= kubelet.reconcile(&mut state, &cloud, &groups, now);
        dirty |= workloads.reconcile(&mut state, now);
        // kube-scheduler retries unschedulable pods on cluster events, and at least every minute
        if dirty || now - last_schedule >= MINUTE {
            waits.extend(schedule(&mut state, &built.setup.daemonsets, now));
            dirty = false;
            last_schedule = now;
        }
        let before = state.generation();
        let wake = match &mut scaler {
            Scaler::Karpenter(k) => k.reconcile(&mut state, &mut cloud, now),
            Scaler::Ca(ca) => ca.reconcile(&mut state, &mut cloud, now),
        };
        let changed = state.generation() != before;
        while next_sample <= now && next_sample <= end {
            samples.push(sample(&state, &cloud, built, next_sample));
            check(&state, built, &mut violations, next_sample);
            next_sample += every;
        }
        progress(now, end);
        if now >= end {
            break;
        }
        let candidates = [
            events.get(next_event).map(|e| e.0),
            cloud.next_change(),
            kubelet.next_wake(&cloud),
            workloads.next_wake(&state),
            wake,
            Some(next_sample),
            Some(last_schedule + MINUTE),
            Some(end),
            changed.then_some(now + SECOND),
        ];
        let next = candidates.into_iter().flatten().min().unwrap_or(end);
        now = next.max(now + 1).min(end);
    }
    let stuck = state
        .pods()
        .values()
        .filter(|p| p.node.is_none() && end - p.created > 15 * MINUTE)
        .map(|p| p.id.clone())
        .collect();
    workloads.finish(&state, end);
    leaks(&state, &cloud, &kubelet, &mut violations, end);
    violations.extend(state.audit().iter().cloned());
    let fresh_cost_per_hour = fresh_cost(built, &state);
    let final_cost_per_hour = cloud.price_per_hour();
    let recorder = match scaler {
        Scaler::Karpenter(k) => k.recorder,
        Scaler::Ca(ca) => ca.recorder,
    };
    counts.api_errors = cloud.api_errors;
    counts.never_registered = kubelet.never_registered;
    Ok(Outcome {
        autoscaler: which,
        samples,
        waits,
        stuck,
        cost: cloud.spent(end),
        launched: cloud.launched(),
        capacity_errors: cloud.capacity_errors,
        violations,
        recorder,
        pods_created: workloads.created,
        duration: end,
        evictions: state.evictions(),
        final_cost_per_hour,
        fresh_cost_per_hour,
        records: cloud.records(),
        restarted: workloads.restarted,
        downtime: workloads.downtime,
        faults: counts,
    })
}

/// The setup with every NodePool's consolidation policy `WhenEmpty`: empty nodes still go
/// (as Cluster Autoscaler removes them too), underutilized ones stay.
fn without_consolidation(setup: &karpenter_controllers::Setup) -> karpenter_controllers::Setup {
    let mut s = setup.clone();
    for p in &mut s.disruption {
        p.policy = karpenter_disruption::Policy::WhenEmpty;
    }
    s
}

/// The price per hour of the NodeClaims a fresh plan would create for the pods bound now.
fn fresh_cost(built: &Built, state: &ClusterState) -> f64 {
    let pods: Vec<&karpenter_controllers::PodState> =
        state.pods().values().filter(|p| p.node.is_some()).collect();
    let empty = ClusterState::default();
    let input = karpenter_controllers::input::build(
        &built.setup,
        &empty,
        std::sync::Arc::new(built.catalog.clone()),
        &pods,
        &std::collections::BTreeSet::new(),
        true,
    );
    karpenter_scheduling::solve(&input)
        .claims
        .iter()
        .map(|c| c.price)
        .sum()
}

fn as_existing(n: &karpenter_controllers::NodeState) -> ExistingNode {
    ExistingNode {
        name: n.name.clone(),
        labels: n.labels.clone(),
        taints: n.taints.clone(),
        ..Default::default()
    }
}

fn sample(state: &ClusterState, cloud: &SimCloud, built: &Built, t: Time) -> Sample {
    let (mut used, mut alloc) = (0i128, 0i128);
    for n in state.nodes().values().filter(|n| n.ready) {
        alloc += n.allocatable.get("cpu").map_or(0, |q| q.millis());
        used += state
            .requested(&n.name)
            .get("cpu")
            .map_or(0, |q| q.millis());
        used += daemonset_overhead(&built.setup.daemonsets, &as_existing(n))
            .get("cpu")
            .map_or(0, |q| q.millis());
    }
    let mut mix: BTreeMap<String, f64> = BTreeMap::new();
    for i in cloud.instances().values() {
        let family = i
            .instance_type
            .split('.')
            .next()
            .unwrap_or(&i.instance_type);
        let cpu = i.capacity.get("cpu").map_or(0, |q| q.millis()) as f64 / 1000.0;
        *mix.entry(format!("{} {family}", i.capacity_type))
            .or_default() += cpu;
    }
    let pending = state.pods().values().filter(|p| p.node.is_none()).count();
    Sample {
        t,
        nodes: state.nodes().len(),
        pending,
        bound: state.pods().len() - pending,
        mix,
        cost_per_hour: cloud.price_per_hour(),
        cpu_utilisation: if alloc > 0 {
            used as f64 / alloc as f64
        } else {
            0.0
        },
    }
}

/// No node holds more than it can; no NodePool exceeds its limits.
fn check(state: &ClusterState, built: &Built, violations: &mut Vec<String>, t: Time) {
    for n in state.nodes().values() {
        let mut used = state.requested(&n.name);
        karpenter_model::catalog::add_resources(
            &mut used,
            &daemonset_overhead(&built.setup.daemonsets, &as_existing(n)),
        );
        for (r, q) in &used {
            let a = n.allocatable.get(r).copied().unwrap_or_default();
            if *q > a && state.pod_count(&n.name) > 0 {
                violations.push(format!(
                    "t={}s: node {} requests {r} {} > allocatable {}",
                    t / 1000,
                    n.name,
                    q.millis(),
                    a.millis()
                ));
            }
        }
    }
    for pool in &built.setup.pools {
        let Some(limits) = &pool.limits else { continue };
        let mut used = karpenter_model::Resources::new();
        let mut count = 0;
        for c in state.claims().values().filter(|c| c.node_pool == pool.name) {
            count += 1;
            if let Some(l) = &c.launched {
                karpenter_model::catalog::add_resources(&mut used, &l.capacity);
            }
        }
        used.insert("nodes".into(), karpenter_model::Quantity::from_units(count));
        for (r, limit) in limits {
            if used.get(r).is_some_and(|u| u > limit) {
                violations.push(format!(
                    "t={}s: NodePool {} uses {r} {:?} over its limit {:?}",
                    t / 1000,
                    pool.name,
                    used.get(r),
                    limit
                ));
            }
        }
    }
}

/// Every instance is a registered node, still booting, or belongs to a claim being
/// deleted; every launched claim's instance exists.
fn leaks(
    state: &ClusterState,
    cloud: &SimCloud,
    kubelet: &Kubelet,
    violations: &mut Vec<String>,
    end: Time,
) {
    // a node that never registers is removed at the registration timeout (Karpenter) or
    // the max node provision time (CA), both 15 minutes
    let grace = (cloud.boot().p99 * 10 + kubelet.registration_grace())
        .max(karpenter_controllers::lifecycle::REGISTRATION_TIMEOUT)
        + MINUTE;
    for i in cloud.instances().values() {
        let young = end - i.launched_at <= grace;
        let deleting = state
            .claims()
            .get(&i.claim)
            .is_some_and(|c| c.deleting_since.is_some());
        if !kubelet.is_registered(&i.provider_id) && !young && !deleting {
            violations.push(format!(
                "instance {} ({}) leaked: no Node after {}s",
                i.provider_id,
                i.instance_type,
                (end - i.launched_at) / 1000
            ));
        }
    }
    for c in state.claims().values() {
        if let Some(l) = &c.launched
            && !cloud.instances().contains_key(&l.provider_id)
        {
            violations.push(format!(
                "NodeClaim {} points at terminated instance {}",
                c.name, l.provider_id
            ));
        }
    }
}
