//! A simulated cloud behind the [`CloudProvider`] port: launches from a real catalog with
//! upstream's launch rules, a boot latency drawn per instance, API errors at a rate,
//! capacity limits per offering
//! (insufficient-capacity errors feed a 3-minute unavailability cache, as upstream's ICE
//! cache), shortages in time windows, spot interruptions with a two-minute notice, and a
//! ledger of what every instance cost. Seeded and deterministic.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use karpenter_model::InstanceType;
use karpenter_model::time::{MINUTE, Time};
use karpenter_model::wellknown::labels;

use crate::ice::{IceCache, node_labels};
use crate::latency::Latency;
use crate::launch::choices;
use crate::rng::Rng;
use crate::{
    CloudError, CloudEvent, CloudProvider, Instance, InstanceState, LaunchRequest, OfferingKey,
};

/// How long an offering stays unavailable after a capacity error (upstream: 3 minutes).
pub use crate::ice::ICE_TTL;
/// Notice a spot interruption gives before the instance is reclaimed.
pub const SPOT_NOTICE: Time = 2 * MINUTE;

/// Matches offerings: each unset field matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OfferingMatch {
    /// Instance type names (`*` suffix matches a prefix, e.g. `m5.*`).
    pub instance_types: Vec<String>,
    /// Zones.
    pub zones: Vec<String>,
    /// Capacity type.
    pub capacity_type: Option<String>,
}

impl OfferingMatch {
    /// Does the offering match?
    pub fn matches(&self, instance_type: &str, zone: &str, capacity_type: &str) -> bool {
        let name_ok = self.instance_types.is_empty()
            || self
                .instance_types
                .iter()
                .any(|p| match p.strip_suffix('*') {
                    Some(prefix) => instance_type.starts_with(prefix),
                    None => p == instance_type,
                });
        name_ok
            && (self.zones.is_empty() || self.zones.iter().any(|z| z == zone))
            && self
                .capacity_type
                .as_deref()
                .is_none_or(|c| c == capacity_type)
    }
}

/// At most `max` running instances of the matching offerings.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityLimit {
    /// Which offerings.
    pub matching: OfferingMatch,
    /// How many instances they can hold at once, together.
    pub max: u32,
}

/// Settings of the simulated cloud.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// From launch to a running instance.
    pub boot: Latency,
    /// Share of launch calls that fail with a retryable API error (throttling), 0 to 1.
    pub api_error_rate: f64,
    /// Limits on concurrently running instances.
    pub capacity: Vec<CapacityLimit>,
    /// Image every instance runs.
    pub image_id: String,
    /// Seed for interruption choices.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            boot: Latency::fixed(30_000),
            api_error_rate: 0.0,
            capacity: Vec::new(),
            image_id: "ami-0sim000000000000".into(),
            seed: 1,
        }
    }
}

/// One instance's life, for reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// Capacity type.
    pub capacity_type: String,
    /// NodePool or node group.
    pub node_pool: String,
    /// What it cost per hour.
    pub price: f64,
    /// What the same type would cost on demand in the same zone, per hour.
    pub on_demand_price: f64,
    /// Launched at.
    pub launched_at: Time,
    /// Terminated at (None while it runs).
    pub ended_at: Option<Time>,
}

/// A window in which matching offerings have no capacity at all.
#[derive(Debug, Clone, PartialEq)]
struct Shortage {
    matching: OfferingMatch,
    from: Time,
    until: Time,
}

/// The simulated cloud.
#[derive(Debug, Clone)]
pub struct SimCloud {
    catalog: Vec<InstanceType>,
    config: SimConfig,
    instances: BTreeMap<String, Instance>,
    /// Per instance: when it stopped costing money.
    ended: BTreeMap<String, Time>,
    /// Instances being reclaimed: provider id to termination time.
    reclaim: BTreeMap<String, Time>,
    ice: IceCache,
    shortages: Vec<Shortage>,
    events: VecDeque<CloudEvent>,
    rng: Rng,
    next_id: u64,
    /// Dollars spent by instances that have ended.
    spent: f64,
    /// Launch attempts that failed with insufficient capacity.
    pub capacity_errors: u64,
    /// Launch calls that failed with an injected API error.
    pub api_errors: u64,
    /// Per instance: when it runs (launch plus its drawn boot latency).
    running_at: BTreeMap<String, Time>,
    /// Per instance: the on-demand price of its type in its zone.
    on_demand_price: BTreeMap<String, f64>,
    /// Every instance that has ended.
    ledger: Vec<Record>,
    /// Draws of boot latencies and API errors (apart from interruption choices, so adding a
    /// fault does not change which instances a storm picks).
    faults: Rng,
    /// The catalog with ICE applied, and until when it stays valid.
    view: RefCell<Option<(Time, Arc<Vec<InstanceType>>)>>,
}

impl SimCloud {
    /// A cloud selling `catalog`.
    pub fn new(catalog: Vec<InstanceType>, config: SimConfig) -> Self {
        let rng = Rng::new(config.seed);
        let faults = Rng::new(config.seed ^ 0x5eed_fa17);
        SimCloud {
            catalog,
            config,
            instances: BTreeMap::new(),
            ended: BTreeMap::new(),
            reclaim: BTreeMap::new(),
            ice: IceCache::default(),
            shortages: Vec::new(),
            events: VecDeque::new(),
            rng,
            next_id: 1,
            spent: 0.0,
            capacity_errors: 0,
            api_errors: 0,
            running_at: BTreeMap::new(),
            on_demand_price: BTreeMap::new(),
            ledger: Vec::new(),
            faults,
            view: RefCell::new(None),
        }
    }

    /// The boot latency distribution.
    pub fn boot(&self) -> Latency {
        self.config.boot
    }

    /// When the instance runs (or ran): its launch plus its boot latency.
    pub fn running_at(&self, provider_id: &str) -> Option<Time> {
        self.running_at.get(provider_id).copied()
    }

    /// Matching offerings have no capacity in `[from, until)`.
    pub fn add_shortage(&mut self, matching: OfferingMatch, from: Time, until: Time) {
        self.shortages.push(Shortage {
            matching,
            from,
            until,
        });
    }

    /// Reclaim `fraction` (0..=1) of the running spot instances matching `matching`, chosen
    /// with the seeded generator; each gets a two-minute notice. Returns how many.
    pub fn interrupt_spot(&mut self, matching: &OfferingMatch, fraction: f64, now: Time) -> usize {
        let mut ids: Vec<String> = self
            .instances
            .values()
            .filter(|i| {
                i.capacity_type == labels::CAPACITY_TYPE_SPOT
                    && i.state <= InstanceState::Running
                    && !self.reclaim.contains_key(&i.provider_id)
                    && matching.matches(&i.instance_type, &i.zone, &i.capacity_type)
            })
            .map(|i| i.provider_id.clone())
            .collect();
        let n = ((ids.len() as f64) * fraction.clamp(0.0, 1.0)).round() as usize;
        // Fisher-Yates prefix shuffle: the first n are the victims
        for i in 0..n.min(ids.len()) {
            let j = i + self.rng.below((ids.len() - i) as u64) as usize;
            ids.swap(i, j);
        }
        for id in ids.into_iter().take(n) {
            let at = now + SPOT_NOTICE;
            self.reclaim.insert(id.clone(), at);
            self.events.push_back(CloudEvent::SpotInterruption {
                provider_id: id,
                terminates_at: at,
            });
        }
        n
    }

    /// Move instances along: booted ones run, reclaimed ones terminate.
    pub fn advance(&mut self, now: Time) {
        for i in self.instances.values_mut() {
            let runs = self.running_at.get(&i.provider_id).copied();
            if i.state == InstanceState::Pending && runs.is_none_or(|t| now >= t) {
                i.state = InstanceState::Running;
            }
        }
        let due: Vec<String> = self
            .reclaim
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.reclaim.remove(&id);
            if self.terminate(&id, now) {
                self.events
                    .push_back(CloudEvent::InstanceTerminated { provider_id: id });
            }
        }
    }

    /// The next time something changes by itself (a boot or a reclaim), if any.
    pub fn next_change(&self) -> Option<Time> {
        let boots = self
            .instances
            .values()
            .filter(|i| i.state == InstanceState::Pending)
            .filter_map(|i| self.running_at.get(&i.provider_id).copied());
        boots.chain(self.reclaim.values().copied()).min()
    }

    /// Running (or booting) instances, by provider id.
    pub fn instances(&self) -> &BTreeMap<String, Instance> {
        &self.instances
    }

    /// Dollars spent up to `now`.
    pub fn spent(&self, now: Time) -> f64 {
        self.spent
            + self
                .instances
                .values()
                .map(|i| i.price * hours(now - i.launched_at))
                .sum::<f64>()
    }

    /// Price per hour of every instance not terminated.
    pub fn price_per_hour(&self) -> f64 {
        self.instances.values().map(|i| i.price).sum::<f64>() + 0.0
    }

    /// Instances ever launched.
    pub fn launched(&self) -> u64 {
        self.next_id - 1
    }

    /// Every instance launched so far, ended or not (ended ones first, in order of ending).
    pub fn records(&self) -> Vec<Record> {
        let mut out = self.ledger.clone();
        out.extend(self.instances.values().map(|i| self.record(i, None)));
        out
    }

    fn record(&self, i: &Instance, ended_at: Option<Time>) -> Record {
        Record {
            instance_type: i.instance_type.clone(),
            zone: i.zone.clone(),
            capacity_type: i.capacity_type.clone(),
            node_pool: i.node_pool.clone(),
            price: i.price,
            on_demand_price: self
                .on_demand_price
                .get(&i.provider_id)
                .copied()
                .unwrap_or(i.price),
            launched_at: i.launched_at,
            ended_at,
        }
    }

    /// How many more instances of the offering fit under the capacity limits at `now`:
    /// `Some(0)` in a shortage, `None` when no limit applies (the capacity-optimized
    /// allocation strategy's signal of pool depth).
    pub fn headroom(&self, instance_type: &str, zone: &str, ct: &str, now: Time) -> Option<u32> {
        let in_window = self
            .shortages
            .iter()
            .any(|s| s.from <= now && now < s.until && s.matching.matches(instance_type, zone, ct));
        if in_window {
            return Some(0);
        }
        self.config
            .capacity
            .iter()
            .filter(|limit| limit.matching.matches(instance_type, zone, ct))
            .map(|limit| {
                let used = self
                    .instances
                    .values()
                    .filter(|i| {
                        limit
                            .matching
                            .matches(&i.instance_type, &i.zone, &i.capacity_type)
                    })
                    .count();
                limit.max.saturating_sub(used as u32)
            })
            .min()
    }

    fn terminate(&mut self, provider_id: &str, now: Time) -> bool {
        match self.instances.remove(provider_id) {
            Some(i) => {
                self.spent += i.price * hours(now - i.launched_at);
                self.ended.insert(provider_id.to_string(), now);
                let record = self.record(&i, Some(now));
                self.ledger.push(record);
                self.running_at.remove(provider_id);
                self.on_demand_price.remove(provider_id);
                true
            }
            None => false,
        }
    }

    fn short(&self, instance_type: &str, zone: &str, ct: &str, now: Time) -> bool {
        self.headroom(instance_type, zone, ct, now) == Some(0)
    }
}

fn hours(ms: Time) -> f64 {
    ms.max(0) as f64 / 3_600_000.0
}

impl CloudProvider for SimCloud {
    fn create(&mut self, request: &LaunchRequest, now: Time) -> Result<Instance, CloudError> {
        if self.config.api_error_rate > 0.0 && self.faults.next_f64() < self.config.api_error_rate {
            self.api_errors += 1;
            return Err(CloudError::Other(
                "RequestLimitExceeded: request limit exceeded (injected)".into(),
            ));
        }
        let ice = &self.ice;
        let not_iced = |t: &InstanceType, o: &karpenter_model::Offering| !ice.is_iced(t, o, now);
        let options = choices(request, &self.catalog, &not_iced)?;
        let mut failed = Vec::new();
        let mut pick = None;
        for c in &options {
            let (t, o) = (c.instance_type, c.offering);
            if self.short(&t.name, &o.zone, &o.capacity_type, now) {
                failed.push(OfferingKey {
                    capacity_type: o.capacity_type.clone(),
                    instance_type: t.name.clone(),
                    zone: o.zone.clone(),
                });
            } else {
                pick = Some((t.clone(), o.clone()));
                break;
            }
        }
        let Some((t, o)) = pick else {
            self.capacity_errors += 1;
            self.ice.mark(&failed, now);
            self.view.replace(None);
            return Err(CloudError::InsufficientCapacity {
                claim: request.claim.clone(),
                message: format!(
                    "InsufficientInstanceCapacity for all {} offerings tried",
                    failed.len()
                ),
                offerings: failed,
            });
        };
        let id = format!("i-{:017x}", self.next_id);
        self.next_id += 1;
        let provider_id = format!("aws:///{}/{id}", o.zone);
        let node_labels = node_labels(&t, &o);
        let instance = Instance {
            provider_id: provider_id.clone(),
            claim: request.claim.clone(),
            node_pool: request.node_pool.clone(),
            instance_type: t.name.clone(),
            zone: o.zone.clone(),
            capacity_type: o.capacity_type.clone(),
            price: o.price,
            image_id: self.config.image_id.clone(),
            launched_at: now,
            state: InstanceState::Pending,
            labels: node_labels,
            allocatable: t.allocatable(),
            capacity: t.capacity.clone(),
        };
        let on_demand = t
            .offerings
            .iter()
            .filter(|x| x.capacity_type == labels::CAPACITY_TYPE_ON_DEMAND)
            .min_by(|a, b| {
                (a.zone != o.zone, a.price)
                    .partial_cmp(&(b.zone != o.zone, b.price))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .map_or(o.price, |x| x.price);
        let boot = self.config.boot.sample(&mut self.faults);
        self.running_at.insert(provider_id.clone(), now + boot);
        self.on_demand_price.insert(provider_id.clone(), on_demand);
        self.instances.insert(provider_id, instance.clone());
        Ok(instance)
    }

    fn delete(&mut self, provider_id: &str, now: Time) -> Result<(), CloudError> {
        self.reclaim.remove(provider_id);
        if self.terminate(provider_id, now) {
            Ok(())
        } else {
            Err(CloudError::NotFound {
                provider_id: provider_id.into(),
            })
        }
    }

    fn get(&self, provider_id: &str) -> Result<Instance, CloudError> {
        self.instances
            .get(provider_id)
            .cloned()
            .ok_or_else(|| CloudError::NotFound {
                provider_id: provider_id.into(),
            })
    }

    fn list(&self) -> Vec<Instance> {
        self.instances.values().cloned().collect()
    }

    fn instance_types(&self, now: Time) -> Arc<Vec<InstanceType>> {
        if let Some((until, view)) = self.view.borrow().as_ref()
            && now < *until
        {
            return view.clone();
        }
        let (types, valid_until) = self.ice.view(&self.catalog, now);
        let view = Arc::new(types);
        self.view.replace(Some((valid_until, view.clone())));
        view
    }

    fn is_drifted(&self, instance: &Instance) -> Result<Option<String>, CloudError> {
        Ok((instance.image_id != self.config.image_id).then(|| "AMIDrift".to_string()))
    }

    fn poll_events(&mut self, _now: Time) -> Vec<CloudEvent> {
        self.events.drain(..).collect()
    }
}

impl SimCloud {
    /// Roll out a new image: running instances on the old one report AMI drift.
    pub fn set_image(&mut self, image_id: &str) {
        self.config.image_id = image_id.to_string();
    }

    /// Forget ICE entries that expired (keeps the cache small on long runs).
    pub fn expire_ice(&mut self, now: Time) {
        self.ice.expire(now);
    }
}
