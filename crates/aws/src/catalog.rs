//! The provider's instance types from live data: DescribeInstanceTypes and
//! DescribeInstanceTypeOfferings translated as the embedded catalog is, priced from the
//! Pricing API (on-demand) and the spot price history, with the embedded on-demand prices
//! until the first answer (spot priced as on-demand until then, as upstream does). An
//! offering is available when it has a price and its zone has a subnet of some
//! EC2NodeClass.

use std::collections::{BTreeMap, BTreeSet};

use karpenter_catalog::aws::{self, AwsSettings, InstanceTypeInfo};
use karpenter_model::{InstanceType, Offering};

/// Prices known so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prices {
    /// On-demand, by type.
    pub on_demand: BTreeMap<String, f64>,
    /// Spot, by (type, zone).
    pub spot: BTreeMap<(String, String), f64>,
}

/// Translate `infos` offered in `zones_by_type` of `region`.
pub fn build(
    region: &str,
    infos: &[InstanceTypeInfo],
    zones_by_type: &BTreeMap<String, BTreeSet<String>>,
    zone_ids: &BTreeMap<String, String>,
    prices: &Prices,
    usable_zones: &BTreeSet<String>,
    settings: &AwsSettings,
) -> Vec<InstanceType> {
    let mut out = Vec::new();
    for info in infos {
        if !aws::is_supported(info) {
            continue;
        }
        let Some(zones) = zones_by_type.get(&info.instance_type) else {
            continue;
        };
        let od = prices.on_demand.get(&info.instance_type).copied();
        let mut offerings = Vec::new();
        for capacity_type in ["spot", "on-demand"] {
            if !info
                .supported_usage_classes
                .iter()
                .any(|c| c == capacity_type)
            {
                continue;
            }
            for zone in zones {
                let price = if capacity_type == "spot" {
                    prices
                        .spot
                        .get(&(info.instance_type.clone(), zone.clone()))
                        .copied()
                        .or(od)
                } else {
                    od
                };
                offerings.push(Offering {
                    zone: zone.clone(),
                    zone_id: zone_ids.get(zone).cloned(),
                    capacity_type: capacity_type.into(),
                    price: price.unwrap_or(0.0),
                    available: price.is_some() && usable_zones.contains(zone),
                    reservation_id: None,
                    reservation_capacity: None,
                });
            }
        }
        out.push(aws::instance_type(info, settings, Some(region), offerings));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The embedded on-demand prices (the fallback until the Pricing API answers; one table
/// for every region, as upstream's fallback).
pub fn embedded_on_demand() -> BTreeMap<String, f64> {
    karpenter_catalog::embedded::on_demand_prices().unwrap_or_default()
}
