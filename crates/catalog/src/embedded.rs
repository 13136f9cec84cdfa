//! The embedded AWS catalog: real instance types, zone offerings and on-demand prices,
//! compiled into the binary so `plan` and `simulate` run with no AWS account.
//!
//! Zone ids are not in the offline data; they are modelled as `<region code>-az<N>` with N
//! the zone letter's position (us-east-1a -> use1-az1). Real accounts map letters to ids
//! differently; only the id format is upstream's.

use std::collections::BTreeMap;
use std::io::Read;

use karpenter_model::wellknown::labels::{CAPACITY_TYPE_ON_DEMAND, CAPACITY_TYPE_SPOT};
use karpenter_model::{InstanceType, Offering};

use crate::aws::{self, AwsSettings, InstanceTypeInfo, InstanceTypeOffering};
use crate::{CatalogError, pricing};

const INSTANCE_TYPES: &[u8] = include_bytes!("../data/instance-types.json.gz");
const PRICES: &[u8] = include_bytes!("../data/on-demand-prices.json");
const OFFERINGS: &[(&str, &[u8])] = &[
    (
        "eu-west-1",
        include_bytes!("../data/offerings/eu-west-1.json.gz"),
    ),
    (
        "us-east-1",
        include_bytes!("../data/offerings/us-east-1.json.gz"),
    ),
    (
        "us-west-2",
        include_bytes!("../data/offerings/us-west-2.json.gz"),
    ),
];

/// Regions the embedded catalog covers.
pub fn regions() -> Vec<&'static str> {
    OFFERINGS.iter().map(|(r, _)| *r).collect()
}

fn gunzip(bytes: &[u8], what: &str) -> Result<Vec<u8>, CatalogError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| CatalogError::Embedded(format!("{what}: {e}")))?;
    Ok(out)
}

/// The embedded on-demand prices (USD/hour by type; the us-east-1 table, see `pricing`).
pub fn on_demand_prices() -> Result<BTreeMap<String, f64>, CatalogError> {
    pricing::on_demand(PRICES)
}

/// Every embedded `DescribeInstanceTypes` entry, by name.
pub fn instance_type_infos() -> Result<BTreeMap<String, InstanceTypeInfo>, CatalogError> {
    let raw = gunzip(INSTANCE_TYPES, "instance types")?;
    serde_json::from_slice(&raw).map_err(|e| CatalogError::Embedded(format!("instance types: {e}")))
}

/// The zone id modelled for `zone` (see the module docs).
pub fn zone_id(region: &str, zone: &str) -> Option<String> {
    let letter = zone.strip_prefix(region)?.chars().next()?;
    let n = (letter as u32).checked_sub('a' as u32)? + 1;
    let mut parts = region.split('-');
    let (geo, dir, num) = (parts.next()?, parts.next()?, parts.next()?);
    let dir = match dir {
        "northeast" => "ne",
        "southeast" => "se",
        "northwest" => "nw",
        "southwest" => "sw",
        "central" => "c",
        other => other.get(..1)?,
    };
    Some(format!("{geo}{dir}{num}-az{n}"))
}

/// The embedded catalog of `region`, translated with `settings`.
pub fn aws(region: &str, settings: &AwsSettings) -> Result<Vec<InstanceType>, CatalogError> {
    let Some((_, offerings_gz)) = OFFERINGS.iter().find(|(r, _)| *r == region) else {
        return Err(CatalogError::UnknownRegion {
            region: region.to_string(),
            available: regions().join(", "),
        });
    };
    let rows: Vec<InstanceTypeOffering> = serde_json::from_slice(&gunzip(offerings_gz, region)?)
        .map_err(|e| CatalogError::Embedded(format!("{region} offerings: {e}")))?;
    let mut zones_by_type: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for row in &rows {
        zones_by_type
            .entry(&row.instance_type)
            .or_default()
            .push(&row.location);
    }
    let prices = pricing::on_demand(PRICES)?;
    let infos = instance_type_infos()?;
    let mut out = Vec::new();
    for (name, info) in &infos {
        let Some(zones) = zones_by_type.get(name.as_str()) else {
            continue;
        };
        if !aws::is_supported(info) {
            continue;
        }
        let mut zones = zones.clone();
        zones.sort();
        zones.dedup();
        let family = name.split('.').next().unwrap_or(name);
        let od = prices.get(name).copied();
        let mut offerings = Vec::new();
        for capacity_type in [CAPACITY_TYPE_SPOT, CAPACITY_TYPE_ON_DEMAND] {
            if !info
                .supported_usage_classes
                .iter()
                .any(|c| c == capacity_type)
            {
                continue;
            }
            for zone in &zones {
                let price = match (od, capacity_type) {
                    (Some(p), CAPACITY_TYPE_SPOT) => Some(pricing::spot_price(p, family, zone)),
                    (p, _) => p,
                };
                offerings.push(Offering {
                    zone: zone.to_string(),
                    zone_id: zone_id(region, zone),
                    capacity_type: capacity_type.to_string(),
                    price: price.unwrap_or(0.0),
                    available: price.is_some(),
                    reservation_id: None,
                    reservation_capacity: None,
                });
            }
        }
        out.push(aws::instance_type(info, settings, Some(region), offerings));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_follow_the_modelled_format() {
        assert_eq!(
            zone_id("us-east-1", "us-east-1a").as_deref(),
            Some("use1-az1")
        );
        assert_eq!(
            zone_id("us-west-2", "us-west-2c").as_deref(),
            Some("usw2-az3")
        );
        assert_eq!(
            zone_id("eu-west-1", "eu-west-1b").as_deref(),
            Some("euw1-az2")
        );
        assert_eq!(
            zone_id("ap-southeast-2", "ap-southeast-2a").as_deref(),
            Some("apse2-az1")
        );
        assert_eq!(zone_id("us-east-1", "eu-west-1a"), None);
    }
}
