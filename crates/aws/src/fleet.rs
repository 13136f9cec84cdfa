//! The CreateFleet request of one launch, as upstream builds it: the capacity type (spot when
//! the NodeClaim allows it and a spot offering is available, else on-demand), overrides over
//! the cheapest instance types × the zones' chosen subnets (at most 60, cheapest first),
//! grouped by launch template, `instant` type for one instance, price-capacity-optimized
//! for spot and lowest-price for on-demand, and the tags on every resource it creates.

use std::collections::BTreeMap;

/// Most overrides one request carries (upstream's `MaxInstanceTypes`).
pub const MAX_OVERRIDES: usize = 60;

/// One offering that may be launched: type, zone, subnet, price, launch template.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Instance type.
    pub instance_type: String,
    /// Availability zone.
    pub zone: String,
    /// Subnet chosen in that zone.
    pub subnet_id: String,
    /// Price, USD per hour.
    pub price: f64,
    /// Name of the launch template for this type.
    pub launch_template: String,
}

/// One override of a launch-template config.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// Instance type.
    pub instance_type: String,
    /// Subnet.
    pub subnet_id: String,
    /// Zone.
    pub zone: String,
    /// Priority (lower first) for the on-demand prioritized strategy; unused otherwise.
    pub priority: Option<f64>,
}

/// A launch template and its overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateConfig {
    /// Launch template name.
    pub launch_template: String,
    /// Overrides.
    pub overrides: Vec<Override>,
}

/// The request.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRequest {
    /// `spot` or `on-demand`.
    pub capacity_type: String,
    /// Allocation strategy of that capacity type.
    pub allocation_strategy: &'static str,
    /// Launch-template configs, in the order of their cheapest override.
    pub configs: Vec<TemplateConfig>,
    /// Tags on the instance, its volumes and interfaces, and the fleet.
    pub tags: BTreeMap<String, String>,
    /// A token that makes retries of the same launch idempotent.
    pub client_token: String,
}

/// Allocation strategy per capacity type.
pub fn allocation_strategy(capacity_type: &str) -> &'static str {
    if capacity_type == "spot" {
        "price-capacity-optimized"
    } else {
        "lowest-price"
    }
}

/// The request for `candidates` of `capacity_type` (cheapest first after sorting by price,
/// then type and zone, so the same offerings give the same request).
pub fn request(
    capacity_type: &str,
    mut candidates: Vec<Candidate>,
    tags: BTreeMap<String, String>,
    client_token: String,
) -> FleetRequest {
    candidates.sort_by(|a, b| {
        a.price
            .total_cmp(&b.price)
            .then_with(|| a.instance_type.cmp(&b.instance_type))
            .then_with(|| a.zone.cmp(&b.zone))
    });
    candidates.truncate(MAX_OVERRIDES);
    let mut configs: Vec<TemplateConfig> = Vec::new();
    for c in candidates {
        let o = Override {
            instance_type: c.instance_type,
            subnet_id: c.subnet_id,
            zone: c.zone,
            priority: None,
        };
        match configs
            .iter_mut()
            .find(|t| t.launch_template == c.launch_template)
        {
            Some(t) => t.overrides.push(o),
            None => configs.push(TemplateConfig {
                launch_template: c.launch_template,
                overrides: vec![o],
            }),
        }
    }
    FleetRequest {
        capacity_type: capacity_type.into(),
        allocation_strategy: allocation_strategy(capacity_type),
        configs,
        tags,
        client_token,
    }
}

/// Fleet error codes that mean no capacity for the override (upstream's unfulfillable
/// capacity errors): the offering goes into the insufficient-capacity cache.
pub fn is_capacity_error(code: &str) -> bool {
    matches!(
        code,
        "InsufficientInstanceCapacity"
            | "MaxSpotInstanceCountExceeded"
            | "VcpuLimitExceeded"
            | "UnfulfillableCapacity"
            | "Unsupported"
            | "InsufficientFreeAddressesInSubnet"
            | "ReservationCapacityExceeded"
            | "SpotMaxPriceTooLow"
    )
}
