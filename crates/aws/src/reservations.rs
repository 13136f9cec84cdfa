//! Capacity reservations (on-demand capacity reservations and capacity blocks) an
//! EC2NodeClass selects: read with DescribeCapacityReservations, one call per selector term
//! (upstream does no "open" matching: a reservation is used only when a term selects it),
//! and turned into `reserved` offerings priced as upstream prices them (the on-demand price
//! divided by ten million, so the scheduler prefers them and consolidates into them).

use std::collections::BTreeMap;

use karpenter_api::EC2NodeClass;
use karpenter_model::wellknown::labels;
use karpenter_model::{InstanceType, Offering};

use crate::clients::Clients;
use crate::error::AwsError;
use crate::selectors;

/// Upstream's divisor of the on-demand price for a reserved offering.
pub const RESERVED_PRICE_DIVISOR: f64 = 10_000_000.0;

/// The price of a reserved offering whose type costs `on_demand` per hour on demand.
pub fn reserved_price(on_demand: f64) -> f64 {
    on_demand / RESERVED_PRICE_DIVISOR
}

/// One active reservation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReservationInfo {
    /// `cr-...`.
    pub id: String,
    /// Zone.
    pub zone: String,
    /// Instance type.
    pub instance_type: String,
    /// Owning account.
    pub owner_id: String,
    /// `open` or `targeted`.
    pub match_criteria: String,
    /// `default` or `capacity-block`.
    pub reservation_type: String,
    /// Instances it can still take.
    pub available: u32,
    /// When it ends (RFC 3339), if it does.
    pub end_time: Option<String>,
}

/// The active reservations `class` selects (none when it has no terms).
pub async fn resolve(
    clients: &Clients,
    class: &EC2NodeClass,
) -> Result<Vec<ReservationInfo>, AwsError> {
    let terms = class
        .spec
        .capacity_reservation_selector_terms
        .as_deref()
        .unwrap_or_default();
    let mut out: BTreeMap<String, ReservationInfo> = BTreeMap::new();
    for term in selectors::capacity_reservation_filters(terms) {
        let mut token: Option<String> = None;
        loop {
            let answer = clients
                .ec2
                .describe_capacity_reservations()
                .set_filters(Some(crate::nodeclass::ec2_filters(&term)))
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| AwsError::sdk("DescribeCapacityReservations", e))?;
            for r in answer.capacity_reservations() {
                let Some(id) = r.capacity_reservation_id() else {
                    continue;
                };
                out.insert(
                    id.to_string(),
                    ReservationInfo {
                        id: id.to_string(),
                        zone: r.availability_zone().unwrap_or_default().to_string(),
                        instance_type: r.instance_type().unwrap_or_default().to_string(),
                        owner_id: r.owner_id().unwrap_or_default().to_string(),
                        match_criteria: r
                            .instance_match_criteria()
                            .map_or("open", |m| m.as_str())
                            .to_string(),
                        reservation_type: r
                            .reservation_type()
                            .map_or("default", |t| t.as_str())
                            .to_string(),
                        available: r
                            .available_instance_count()
                            .and_then(|n| u32::try_from(n).ok())
                            .unwrap_or(0),
                        end_time: r.end_date().and_then(|d| {
                            d.fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
                                .ok()
                        }),
                    },
                );
            }
            token = answer
                .next_token()
                .map(str::to_string)
                .filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
    }
    Ok(out.into_values().collect())
}

/// Add a `reserved` offering to each type of `types` for every reservation of it in a
/// zone the type is offered in; `used` counts this controller's launches into each
/// reservation since it was last read. An offering with nothing left is unavailable.
pub fn add_offerings(
    types: &mut [InstanceType],
    reservations: &[ReservationInfo],
    used: &BTreeMap<String, u32>,
) {
    for t in types.iter_mut() {
        let mut added = Vec::new();
        for r in reservations.iter().filter(|r| r.instance_type == t.name) {
            let Some(od) = t
                .offerings
                .iter()
                .find(|o| o.zone == r.zone && o.capacity_type == labels::CAPACITY_TYPE_ON_DEMAND)
            else {
                continue;
            };
            let left = r
                .available
                .saturating_sub(used.get(&r.id).copied().unwrap_or(0));
            added.push(Offering {
                zone: r.zone.clone(),
                zone_id: od.zone_id.clone(),
                capacity_type: labels::CAPACITY_TYPE_RESERVED.into(),
                price: reserved_price(od.price),
                available: left > 0 && od.price > 0.0,
                reservation_id: Some(r.id.clone()),
                reservation_capacity: Some(left),
            });
        }
        t.offerings.extend(added);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offering(zone: &str, ct: &str, price: f64) -> Offering {
        Offering {
            zone: zone.into(),
            zone_id: Some(format!("use1-{zone}")),
            capacity_type: ct.into(),
            price,
            available: true,
            reservation_id: None,
            reservation_capacity: None,
        }
    }

    fn reservation(id: &str, ty: &str, zone: &str, available: u32) -> ReservationInfo {
        ReservationInfo {
            id: id.into(),
            zone: zone.into(),
            instance_type: ty.into(),
            owner_id: "123456789012".into(),
            match_criteria: "targeted".into(),
            reservation_type: "default".into(),
            available,
            end_time: None,
        }
    }

    #[test]
    fn a_reservation_becomes_a_nearly_free_offering_until_used_up() {
        let mut types = vec![InstanceType {
            name: "m5.large".into(),
            capacity: Default::default(),
            overhead: Default::default(),
            requirements: Vec::new(),
            offerings: vec![
                offering("us-east-1a", "on-demand", 0.096),
                offering("us-east-1a", "spot", 0.04),
            ],
        }];
        let rs = [
            reservation("cr-1", "m5.large", "us-east-1a", 2),
            // not offered in that zone: no offering
            reservation("cr-2", "m5.large", "us-east-1f", 5),
            reservation("cr-3", "c5.large", "us-east-1a", 5),
        ];
        let used = [("cr-1".to_string(), 1)].into();
        add_offerings(&mut types, &rs, &used);
        let reserved: Vec<&Offering> = types[0]
            .offerings
            .iter()
            .filter(|o| o.capacity_type == "reserved")
            .collect();
        assert_eq!(reserved.len(), 1);
        let o = reserved[0];
        assert_eq!(o.reservation_id.as_deref(), Some("cr-1"));
        assert_eq!(o.reservation_capacity, Some(1));
        assert!(o.available);
        assert!((o.price - 0.096 / RESERVED_PRICE_DIVISOR).abs() < 1e-15);
        assert_eq!(o.zone_id.as_deref(), Some("use1-us-east-1a"));
        // both taken: unavailable
        let mut again = types.clone();
        again[0].offerings.retain(|o| o.capacity_type != "reserved");
        add_offerings(&mut again, &rs, &[("cr-1".to_string(), 2)].into());
        assert!(
            again[0]
                .offerings
                .iter()
                .any(|o| o.capacity_type == "reserved" && !o.available)
        );
    }

    #[test]
    fn terms_filter_on_id_owner_and_criteria_and_only_active() {
        use karpenter_api::ec2nodeclass::CapacityReservationSelectorTerm;
        let terms = [
            CapacityReservationSelectorTerm {
                id: Some("cr-0123".into()),
                ..Default::default()
            },
            CapacityReservationSelectorTerm {
                tags: Some([("team".to_string(), "*".to_string())].into()),
                owner_id: Some("123456789012".into()),
                instance_match_criteria: Some("targeted".into()),
                ..Default::default()
            },
        ];
        let f = selectors::capacity_reservation_filters(&terms);
        let names = |i: usize| f[i].iter().map(|f| f.name.as_str()).collect::<Vec<_>>();
        assert_eq!(names(0), ["capacity-reservation-id", "state"]);
        assert_eq!(
            names(1),
            ["tag-key", "owner-id", "instance-match-criteria", "state"]
        );
        assert!(
            f.iter()
                .all(|t| t.last().is_some_and(|s| s.values == ["active"]))
        );
    }
}
