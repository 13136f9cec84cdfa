//! A simulated cloud behind the [`CloudProvider`] port: launches from a real catalog with
//! upstream's launch rules, a configurable boot latency, capacity limits per offering
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
    pub boot_latency: Time,
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
            boot_latency: 30_000,
            capacity: Vec::new(),
            image_id: "ami-0sim000000000000".into(),
            seed: 1,
        }
    }
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
    /// The catalog with ICE applied, and until when it stays valid.
    view: RefCell<Option<(Time, Arc<Vec<InstanceType>>)>>,
}

impl SimCloud {
    /// A cloud selling `catalog`.
    pub fn new(catalog: Vec<InstanceType>, config: SimConfig) -> Self {
        let rng = Rng::new(config.seed);
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
            view: RefCell::new(None),
        }
    }

    /// The boot latency.
    pub fn boot_latency(&self) -> Time {
        self.config.boot_latency
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
        let boot = self.config.boot_latency;
        for i in self.instances.values_mut() {
            if i.state == InstanceState::Pending && now >= i.launched_at + boot {
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
            .map(|i| i.launched_at + self.config.boot_latency);
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

    fn terminate(&mut self, provider_id: &str, now: Time) -> bool {
        match self.instances.remove(provider_id) {
            Some(i) => {
                self.spent += i.price * hours(now - i.launched_at);
                self.ended.insert(provider_id.to_string(), now);
                true
            }
            None => false,
        }
    }

    fn short(&self, instance_type: &str, zone: &str, ct: &str, now: Time) -> bool {
        let in_window = self
            .shortages
            .iter()
            .any(|s| s.from <= now && now < s.until && s.matching.matches(instance_type, zone, ct));
        if in_window {
            return true;
        }
        self.config.capacity.iter().any(|limit| {
            limit.matching.matches(instance_type, zone, ct) && {
                let used = self
                    .instances
                    .values()
                    .filter(|i| {
                        limit
                            .matching
                            .matches(&i.instance_type, &i.zone, &i.capacity_type)
                    })
                    .count();
                used >= limit.max as usize
            }
        })
    }
}

fn hours(ms: Time) -> f64 {
    ms.max(0) as f64 / 3_600_000.0
}

impl CloudProvider for SimCloud {
    fn create(&mut self, request: &LaunchRequest, now: Time) -> Result<Instance, CloudError> {
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
