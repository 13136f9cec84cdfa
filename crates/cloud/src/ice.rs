//! Upstream's insufficient-capacity cache, shared by every provider: an offering a launch
//! found without capacity is unavailable for three minutes, in launches and in the catalog
//! the scheduler sees. Also the labels an instance's Node carries for its offering.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use karpenter_model::time::{MINUTE, Time};
use karpenter_model::wellknown::labels;
use karpenter_model::{InstanceType, Offering, Op};

use crate::OfferingKey;

/// How long an offering stays unavailable after an insufficient-capacity error.
pub const ICE_TTL: Time = 3 * MINUTE;

/// Offerings recently found without capacity, each until a time.
#[derive(Debug, Clone, Default)]
pub struct IceCache {
    until: BTreeMap<OfferingKey, Time>,
}

impl IceCache {
    /// Is the offering `o` of `t` unavailable at `now`?
    pub fn is_iced(&self, t: &InstanceType, o: &Offering, now: Time) -> bool {
        self.until.iter().any(|(k, until)| {
            *until > now
                && k.instance_type == t.name
                && k.zone == o.zone
                && k.capacity_type == o.capacity_type
        })
    }

    /// Mark offerings unavailable for [`ICE_TTL`] from `now`.
    pub fn mark(&mut self, keys: &[OfferingKey], now: Time) {
        for k in keys {
            self.until.insert(k.clone(), now + ICE_TTL);
        }
    }

    /// Forget entries that ran out by `now`.
    pub fn expire(&mut self, now: Time) {
        self.until.retain(|_, until| *until > now);
    }

    /// `catalog` with the iced offerings unavailable, and until when that view holds.
    pub fn view(&self, catalog: &[InstanceType], now: Time) -> (Vec<InstanceType>, Time) {
        let mut types = catalog.to_vec();
        for t in &mut types {
            for o in &mut t.offerings {
                let key = OfferingKey {
                    capacity_type: o.capacity_type.clone(),
                    instance_type: t.name.clone(),
                    zone: o.zone.clone(),
                };
                if self.until.get(&key).is_some_and(|until| *until > now) {
                    o.available = false;
                }
            }
        }
        let valid_until = self
            .until
            .values()
            .filter(|u| **u > now)
            .min()
            .copied()
            .unwrap_or(Time::MAX);
        (types, valid_until)
    }
}

/// A provider's catalog as the scheduler sees it (iced offerings unavailable), computed again
/// only when an entry of the cache runs out or the view is cleared.
#[derive(Debug, Default)]
pub struct IcedView {
    view: RefCell<Option<(Time, Arc<Vec<InstanceType>>)>>,
}

impl IcedView {
    /// The view of `catalog` through `ice` at `now`.
    pub fn get(
        &self,
        ice: &IceCache,
        catalog: &[InstanceType],
        now: Time,
    ) -> Arc<Vec<InstanceType>> {
        if let Some((until, view)) = self.view.borrow().as_ref()
            && now < *until
        {
            return Arc::clone(view);
        }
        let (types, valid_until) = ice.view(catalog, now);
        let view = Arc::new(types);
        self.view.replace(Some((valid_until, Arc::clone(&view))));
        view
    }

    /// Forget the view (the cache or the catalog changed).
    pub fn clear(&self) {
        self.view.replace(None);
    }
}

/// The labels a Node launched as offering `o` of `t` carries: the type's single-valued
/// labels, instance type, zone, capacity type and the capacity reservation's id.
pub fn node_labels(t: &InstanceType, o: &Offering) -> BTreeMap<String, String> {
    let mut node_labels: BTreeMap<String, String> = t
        .requirements
        .iter()
        .filter(|r| r.op == Op::In && r.values.len() == 1)
        .map(|r| (r.key.clone(), r.values[0].clone()))
        .collect();
    node_labels.insert(labels::INSTANCE_TYPE.into(), t.name.clone());
    node_labels.insert(labels::ZONE.into(), o.zone.clone());
    node_labels.insert(labels::CAPACITY_TYPE.into(), o.capacity_type.clone());
    if let Some(id) = &o.reservation_id {
        node_labels.insert(
            karpenter_model::wellknown::aws_labels::CAPACITY_RESERVATION_ID.into(),
            id.clone(),
        );
    }
    node_labels
}
