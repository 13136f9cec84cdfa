//! Instance types and their offerings: what the scheduler chooses from.
//!
//! Provider independent: the AWS translation, the embedded catalog and the `plan` catalog
//! file format all produce these types.

use std::collections::BTreeMap;

use crate::algebra::Requirements;
use crate::quantity::Quantity;
use crate::requirements::{Op, Requirement};
use crate::wellknown::labels;

/// Resource name to quantity.
pub type Resources = BTreeMap<String, Quantity>;

/// Add `from` into `into`, resource by resource (saturating).
pub fn add_resources(into: &mut Resources, from: &Resources) {
    for (name, q) in from {
        let e = into.entry(name.clone()).or_default();
        *e = e.saturating_add(*q);
    }
}

/// What the node reserves for itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overhead {
    /// kubelet `kubeReserved`.
    pub kube_reserved: Resources,
    /// kubelet `systemReserved`.
    pub system_reserved: Resources,
    /// Hard eviction thresholds.
    pub eviction_threshold: Resources,
}

impl Overhead {
    /// Sum of the three parts, per resource.
    pub fn total(&self) -> Resources {
        let mut total = Resources::new();
        for part in [
            &self.kube_reserved,
            &self.system_reserved,
            &self.eviction_threshold,
        ] {
            add_resources(&mut total, part);
        }
        total
    }
}

/// One place and way an instance type can be bought.
#[derive(Debug, Clone, PartialEq)]
pub struct Offering {
    /// Availability zone.
    pub zone: String,
    /// Availability zone id, when known.
    pub zone_id: Option<String>,
    /// `spot`, `on-demand` or `reserved`.
    pub capacity_type: String,
    /// Price in USD per hour.
    pub price: f64,
    /// Can it be launched now?
    pub available: bool,
    /// Capacity reservation id (capacity type `reserved`).
    pub reservation_id: Option<String>,
    /// Instances left in the reservation.
    pub reservation_capacity: Option<u32>,
}

/// An instance type: its capacity, overhead, labels and offerings.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceType {
    /// Name, e.g. `m5.xlarge`.
    pub name: String,
    /// Node capacity.
    pub capacity: Resources,
    /// Reserved by the node.
    pub overhead: Overhead,
    /// Requirements (labels) every node of this type satisfies; zone and capacity type
    /// follow from the offerings.
    pub requirements: Vec<Requirement>,
    /// Where and how it can be bought.
    pub offerings: Vec<Offering>,
}

impl InstanceType {
    /// Allocatable = capacity - kubeReserved - systemReserved - evictionThreshold, never
    /// below zero.
    pub fn allocatable(&self) -> Resources {
        let overhead = self.overhead.total();
        self.capacity
            .iter()
            .map(|(name, q)| {
                let left = q.saturating_sub(overhead.get(name).copied().unwrap_or_default());
                (name.clone(), left.max(Quantity::ZERO))
            })
            .collect()
    }

    /// The requirements including the type name and the zones and capacity types of its
    /// offerings, as the `plan` catalog format implies them.
    pub fn full_requirements(&self) -> Vec<Requirement> {
        let mut reqs: Vec<Requirement> = self
            .requirements
            .iter()
            .filter(|r| {
                ![labels::INSTANCE_TYPE, labels::ZONE, labels::CAPACITY_TYPE]
                    .contains(&r.key.as_str())
            })
            .cloned()
            .collect();
        reqs.push(Requirement::new(
            labels::INSTANCE_TYPE,
            Op::In,
            [self.name.clone()],
        ));
        let zones: Vec<String> = self.offerings.iter().map(|o| o.zone.clone()).collect();
        let capacity_types: Vec<String> = self
            .offerings
            .iter()
            .map(|o| o.capacity_type.clone())
            .collect();
        reqs.push(Requirement::new(labels::ZONE, Op::In, zones));
        reqs.push(Requirement::new(
            labels::CAPACITY_TYPE,
            Op::In,
            capacity_types,
        ));
        reqs.sort();
        reqs
    }

    /// The single value of label `key`, if the type defines exactly one.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.key == key && r.op == Op::In && r.values.len() == 1)
            .map(|r| r.values[0].as_str())
    }

    /// Do `requirements` intersect the type's (with its offerings' zones and capacity
    /// types)? As upstream's instance-type filter, keys the type does not define are allowed.
    pub fn satisfies(&self, requirements: &[Requirement]) -> bool {
        let offered = Requirements::from_requirements(&self.full_requirements());
        offered
            .intersects(&Requirements::from_requirements(requirements))
            .is_ok()
    }

    /// The cheapest available offering, ties broken by zone then capacity type.
    pub fn cheapest_offering(&self) -> Option<&Offering> {
        self.offerings
            .iter()
            .filter(|o| o.available)
            .min_by(|a, b| {
                a.price
                    .total_cmp(&b.price)
                    .then_with(|| a.zone.cmp(&b.zone))
                    .then_with(|| a.capacity_type.cmp(&b.capacity_type))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_default()
    }

    fn offering(zone: &str, ct: &str, price: f64, available: bool) -> Offering {
        Offering {
            zone: zone.into(),
            zone_id: None,
            capacity_type: ct.into(),
            price,
            available,
            reservation_id: None,
            reservation_capacity: None,
        }
    }

    fn it() -> InstanceType {
        InstanceType {
            name: "m5.xlarge".into(),
            capacity: [("cpu", "4"), ("memory", "15155Mi"), ("pods", "58")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), q(v)))
                .collect(),
            overhead: Overhead {
                kube_reserved: [
                    ("cpu".to_string(), q("80m")),
                    ("memory".to_string(), q("893Mi")),
                ]
                .into(),
                system_reserved: Resources::new(),
                eviction_threshold: [("memory".to_string(), q("100Mi"))].into(),
            },
            requirements: vec![Requirement::new("kubernetes.io/arch", Op::In, ["amd64"])],
            offerings: vec![
                offering("a", "on-demand", 0.192, true),
                offering("b", "spot", 0.07, false),
                offering("c", "spot", 0.08, true),
            ],
        }
    }

    #[test]
    fn allocatable_subtracts_every_overhead() {
        let a = it().allocatable();
        assert_eq!(a["cpu"], q("3920m"));
        assert_eq!(a["memory"], q("14162Mi"));
        assert_eq!(a["pods"], q("58"));
    }

    #[test]
    fn cheapest_available_offering() {
        let t = it();
        let o = t.cheapest_offering();
        assert_eq!(o.map(|o| o.zone.as_str()), Some("c"));
    }

    #[test]
    fn requirements_include_offerings() {
        let t = it();
        let zone_b = Requirement::new(labels::ZONE, Op::In, ["b"]);
        assert!(t.satisfies(std::slice::from_ref(&zone_b)));
        assert!(!t.satisfies(&[Requirement::new(labels::ZONE, Op::In, ["z"])]));
        assert!(t.satisfies(&[Requirement::new(
            labels::INSTANCE_TYPE,
            Op::In,
            ["m5.xlarge"]
        )]));
        assert_eq!(t.label("kubernetes.io/arch"), Some("amd64"));
    }
}
