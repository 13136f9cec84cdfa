//! Prices of the embedded catalog.
//!
//! - On-demand: upstream's published Linux on-demand prices for us-east-1. Other regions use
//!   the us-east-1 table, as upstream's provider falls back to it for regions it has no table
//!   for. Types without a price get offerings marked unavailable, as upstream does.
//! - Spot: no spot prices exist offline, so they are modelled deterministically: each
//!   instance family gets a discount between 55 % and 75 % off on-demand, and each
//!   (family, zone) a factor between 0.95 and 1.05, both from a stable hash (FNV-1a, splitmix64
//!   finalizer) of the names. The same input gives the same price on every machine and every run; relative
//!   prices across families vary the way real spot markets do, and zones differ a little.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::CatalogError;

/// The embedded price file.
#[derive(Debug, Deserialize)]
struct PriceFile {
    #[serde(rename = "onDemand")]
    on_demand: BTreeMap<String, BTreeMap<String, f64>>,
}

/// The region whose on-demand table the embedded data has.
pub const PRICED_REGION: &str = "us-east-1";

/// On-demand prices (USD/hour) by type for `region` (the us-east-1 table for any region).
pub fn on_demand(raw: &[u8]) -> Result<BTreeMap<String, f64>, CatalogError> {
    let mut file: PriceFile = serde_json::from_slice(raw)
        .map_err(|e| CatalogError::Embedded(format!("on-demand prices: {e}")))?;
    file.on_demand
        .remove(PRICED_REGION)
        .ok_or_else(|| CatalogError::Embedded(format!("on-demand prices lack {PRICED_REGION}")))
}

/// FNV-1a, 64 bit: a stable hash for the price model.
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A stable number in [0, 1) for `s`: FNV-1a, then the splitmix64 finalizer so that names
/// differing in one letter land far apart.
fn unit(s: &str) -> f64 {
    let mut z = fnv1a(s);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The modelled spot discount of a family: 0.55 ..= 0.75.
pub fn spot_discount(family: &str) -> f64 {
    0.55 + 0.20 * unit(family)
}

/// The modelled spot price of a type of `family` in `zone`, from its on-demand price,
/// rounded to 1e-6 USD.
pub fn spot_price(on_demand: f64, family: &str, zone: &str) -> f64 {
    let zone_factor = 0.95 + 0.10 * unit(&format!("{family}/{zone}"));
    let p = on_demand * (1.0 - spot_discount(family)) * zone_factor;
    (p * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spot_is_stable_and_discounted() {
        let a = spot_price(0.192, "m5", "us-east-1a");
        assert_eq!(a, spot_price(0.192, "m5", "us-east-1a"));
        assert!(
            a > 0.192 * 0.25 * 0.95 - 1e-9 && a < 0.192 * 0.45 * 1.05 + 1e-9,
            "{a}"
        );
        assert_ne!(a, spot_price(0.192, "m5", "us-east-1b"), "zones differ");
        for fam in ["m5", "c7g", "r6i", "g5", "t3"] {
            let d = spot_discount(fam);
            assert!((0.55..=0.75).contains(&d), "{fam}: {d}");
        }
    }
}
