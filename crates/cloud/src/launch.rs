//! Upstream's launch rules (AWS `instance.Create`), shared by every provider: which
//! offerings a NodeClaim may launch into and in what order. Filters, in upstream's order:
//! compatible and available offerings; capacity type reserved, then spot, then on-demand
//! (the first one the claim allows and that has an offering); exotic types (GPU,
//! accelerators, metal) dropped while a generic type remains; spot offerings priced above
//! the cheapest on-demand one dropped; at most 60 instance types, cheapest first.

use karpenter_model::wellknown::{aws_labels, labels};
use karpenter_model::{InstanceType, Offering, Requirements};

use crate::{CloudError, LaunchRequest};

/// Instance types a fleet request carries at most (upstream's `maxInstanceTypes`).
pub const MAX_INSTANCE_TYPES: usize = 60;

/// One launchable choice: an instance type and one of its offerings.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice<'a> {
    /// The type.
    pub instance_type: &'a InstanceType,
    /// The offering.
    pub offering: &'a Offering,
}

fn exotic(t: &InstanceType) -> bool {
    let positive = |key: &str| t.label(key).is_some_and(|v| v != "0");
    positive(aws_labels::INSTANCE_GPU_COUNT)
        || positive(aws_labels::INSTANCE_ACCELERATOR_COUNT)
        || t.label(aws_labels::INSTANCE_SIZE)
            .is_some_and(|s| s.contains("metal"))
}

fn offering_allowed(reqs: &Requirements, o: &Offering) -> bool {
    let allows = |key: &str, v: &str| reqs.get(key).is_none_or(|set| set.has(v));
    allows(labels::ZONE, &o.zone)
        && allows(labels::CAPACITY_TYPE, &o.capacity_type)
        && o.reservation_id
            .as_deref()
            .is_none_or(|id| allows(aws_labels::CAPACITY_RESERVATION_ID, id))
}

/// The offerings `request` may launch into, in the order a fleet request tries them
/// (cheapest first within the chosen capacity type). `types` is the current catalog with
/// availability; `available` can rule out more offerings (a provider's capacity cache).
pub fn choices<'a>(
    request: &LaunchRequest,
    types: &'a [InstanceType],
    available: &dyn Fn(&InstanceType, &Offering) -> bool,
) -> Result<Vec<Choice<'a>>, CloudError> {
    let mut candidates: Vec<Choice<'a>> = Vec::new();
    for name in &request.instance_types {
        let Some(t) = types.iter().find(|t| &t.name == name) else {
            continue;
        };
        for o in t
            .offerings
            .iter()
            .filter(|o| o.available && available(t, o))
        {
            if offering_allowed(&request.requirements, o) {
                candidates.push(Choice {
                    instance_type: t,
                    offering: o,
                });
            }
        }
    }
    let capacity_type = [
        labels::CAPACITY_TYPE_RESERVED,
        labels::CAPACITY_TYPE_SPOT,
        labels::CAPACITY_TYPE_ON_DEMAND,
    ]
    .into_iter()
    .find(|ct| candidates.iter().any(|c| c.offering.capacity_type == *ct))
    .ok_or_else(|| CloudError::InsufficientCapacity {
        claim: request.claim.clone(),
        message: "no compatible, available offering for any of the claim's instance types".into(),
        offerings: Vec::new(),
    })?;
    let cheapest_on_demand = candidates
        .iter()
        .filter(|c| c.offering.capacity_type == labels::CAPACITY_TYPE_ON_DEMAND)
        .map(|c| c.offering.price)
        .min_by(f64::total_cmp);
    let min_values = !request.requirements.min_values().is_empty();
    let mut chosen: Vec<Choice<'a>> = candidates
        .into_iter()
        .filter(|c| c.offering.capacity_type == capacity_type)
        .filter(|c| {
            min_values
                || capacity_type != labels::CAPACITY_TYPE_SPOT
                || cheapest_on_demand.is_none_or(|od| c.offering.price <= od)
        })
        .collect();
    if !min_values && chosen.iter().any(|c| !exotic(c.instance_type)) {
        chosen.retain(|c| !exotic(c.instance_type));
    }
    chosen.sort_by(|a, b| {
        a.offering
            .price
            .total_cmp(&b.offering.price)
            .then_with(|| a.instance_type.name.cmp(&b.instance_type.name))
            .then_with(|| a.offering.zone.cmp(&b.offering.zone))
    });
    let mut kept_types: Vec<&str> = Vec::new();
    chosen.retain(|c| {
        let name = c.instance_type.name.as_str();
        if kept_types.contains(&name) {
            true
        } else if kept_types.len() < MAX_INSTANCE_TYPES {
            kept_types.push(name);
            true
        } else {
            false
        }
    });
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_model::{Op, Requirement};

    fn offering(zone: &str, ct: &str, price: f64) -> Offering {
        Offering {
            zone: zone.into(),
            zone_id: None,
            capacity_type: ct.into(),
            price,
            available: true,
            reservation_id: None,
            reservation_capacity: None,
        }
    }

    fn it(name: &str, offerings: Vec<Offering>) -> InstanceType {
        InstanceType {
            name: name.into(),
            capacity: Default::default(),
            overhead: Default::default(),
            requirements: vec![],
            offerings,
        }
    }

    fn request(types: &[&str], reqs: &[Requirement]) -> LaunchRequest {
        LaunchRequest {
            claim: "c".into(),
            node_pool: "p".into(),
            requirements: Requirements::from_requirements(reqs),
            instance_types: types.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn spot_first_and_pricier_spot_dropped() {
        let types = vec![
            it(
                "a",
                vec![
                    offering("z1", "spot", 0.5),
                    offering("z1", "on-demand", 0.4),
                ],
            ),
            it(
                "b",
                vec![
                    offering("z1", "spot", 0.2),
                    offering("z1", "on-demand", 1.0),
                ],
            ),
        ];
        let got = choices(&request(&["a", "b"], &[]), &types, &|_, _| true).unwrap_or_default();
        let names: Vec<_> = got
            .iter()
            .map(|c| (c.instance_type.name.as_str(), c.offering.price))
            .collect();
        assert_eq!(names, vec![("b", 0.2)]);
    }

    #[test]
    fn on_demand_when_spot_not_allowed_and_zone_respected() {
        let types = vec![it(
            "a",
            vec![
                offering("z1", "spot", 0.1),
                offering("z1", "on-demand", 0.4),
                offering("z2", "on-demand", 0.3),
            ],
        )];
        let reqs = [
            Requirement::new(labels::CAPACITY_TYPE, Op::In, ["on-demand"]),
            Requirement::new(labels::ZONE, Op::In, ["z1"]),
        ];
        let got = choices(&request(&["a"], &reqs), &types, &|_, _| true).unwrap_or_default();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].offering.zone, "z1");
        assert_eq!(got[0].offering.capacity_type, "on-demand");
    }

    #[test]
    fn nothing_available_is_insufficient_capacity() {
        let mut o = offering("z1", "spot", 0.1);
        o.available = false;
        let types = vec![it("a", vec![o])];
        assert!(matches!(
            choices(&request(&["a"], &[]), &types, &|_, _| true),
            Err(CloudError::InsufficientCapacity { .. })
        ));
    }
}
