//! Reasons a person can act on, for a NodePool that could not take a pod: which requirement
//! no instance type meets, which offerings are missing, which limit is in the way, or which
//! resource is short and by how much. Formatted only when a pod fails, never in the hot loop.

use karpenter_model::Requirements;
use karpenter_model::quantity::format_resource;
use karpenter_model::wellknown::labels;

use crate::dense::{Bitset, Vector};
use crate::solve::Solver;

fn describe(s: &Solver<'_>, v: &Vector) -> String {
    s.names
        .resources(v)
        .iter()
        .map(|(k, q)| format!("{k}={}", format_resource(k, *q)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every limit of pool `pi` with what is left of it, used-up ones included (`cpu=0 left`),
/// and the `nodes` limit.
fn remaining_limits(s: &Solver<'_>, pi: usize) -> String {
    let pool = &s.pools[pi];
    let mut parts: Vec<String> = pool
        .remaining
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, r)| **r != i64::MAX)
        .filter_map(|(d, r)| {
            let name = s.names.name(d)?;
            let left = karpenter_model::Quantity::from_millis(i128::from((*r).max(0)));
            Some(format!("{name}={} left", format_resource(name, left)))
        })
        .collect();
    if let Some(n) = pool.nodes_left {
        parts.push(format!("nodes={} left", n.max(0)));
    }
    if parts.is_empty() {
        "none set".into()
    } else {
        parts.join(", ")
    }
}

fn show(reqs: &Requirements, key: &str) -> String {
    reqs.get(key).map_or_else(
        || format!("{key} (any)"),
        |set| {
            set.to_requirements(key)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" and ")
        },
    )
}

fn one_hot(len: usize, d: usize) -> Vec<i64> {
    let mut v = vec![0; len];
    v[d] = 1;
    v
}

/// Why no instance type of pool `pi` can take pod `p` with requirements `reqs`; `stages` are
/// the types left after requirements, offerings and limits.
pub fn no_type(
    s: &mut Solver<'_>,
    pi: usize,
    p: usize,
    reqs: &Requirements,
    stages: [&Bitset; 3],
) -> String {
    let [met, offered, within] = stages;
    if met.is_empty() {
        let pool_types = s.pools[pi].types.clone();
        if pool_types.is_empty() {
            return "the nodepool's requirements match no instance type".into();
        }
        let keys: Vec<String> = reqs
            .keys()
            .filter(|k| *k != labels::HOSTNAME)
            .map(str::to_string)
            .collect();
        for key in keys {
            let mut only = Requirements::new();
            if let Some(set) = reqs.get(&key) {
                only.add_set(&key, set.clone());
            }
            let mut b = pool_types.clone();
            b.and(&s.types.compatible(&only));
            if b.is_empty() {
                return format!("no instance type met the requirement {}", show(reqs, &key));
            }
        }
        return "no instance type met all the requirements together".into();
    }
    if offered.is_empty() {
        return format!(
            "no instance type meeting the requirements had an available offering ({}; {})",
            show(reqs, labels::ZONE),
            show(reqs, labels::CAPACITY_TYPE)
        );
    }
    // limits only explain the failure when some type would otherwise fit the pod
    let requests = s.pods[p].requests.clone();
    let zero = vec![0; requests.len()];
    let fits_without_limits = offered
        .iter()
        .any(|i| crate::dense::fits(&zero, &requests, &s.pools[pi].eff[i]));
    if within.is_empty() && fits_without_limits {
        return format!(
            "all {} instance types meeting the requirements exceed the nodepool's remaining limits ({})",
            offered.count(),
            remaining_limits(s, pi)
        );
    }
    let within = if within.is_empty() { offered } else { within };
    let cpu = s.names.slot("cpu").unwrap_or(0);
    let largest = within.iter().max_by_key(|&i| {
        (
            s.pools[pi].eff[i].get(cpu).copied().unwrap_or(0),
            std::cmp::Reverse(i),
        )
    });
    // a requested resource no candidate type has at all says more than the largest type
    let missing: Vec<String> = requests
        .iter()
        .enumerate()
        .filter(|(d, q)| **q > 0 && within.iter().all(|i| s.pools[pi].eff[i][*d] <= 0))
        .filter_map(|(d, _)| {
            s.names
                .resources(&one_hot(requests.len(), d))
                .into_keys()
                .next()
        })
        .collect();
    if !missing.is_empty() {
        return format!(
            "no instance type meeting the requirements has {} ({} types considered)",
            missing.join(", "),
            within.count()
        );
    }
    let mut msg = format!(
        "no instance type had enough resources for {} ({} types meet the requirements",
        describe(s, &requests),
        within.count()
    );
    if let Some(i) = largest {
        let eff = s.pools[pi].eff[i].clone();
        let daemon = s.pools[pi].daemon[i].clone();
        msg.push_str(&format!(
            "; the largest, {}, leaves {}",
            s.types.its[i].name,
            describe(s, &eff.iter().map(|q| (*q).max(0)).collect())
        ));
        if daemon.iter().any(|q| *q > 0) {
            msg.push_str(&format!(
                " after daemonset overhead {}",
                describe(s, &daemon)
            ));
        }
    }
    msg.push(')');
    let excluded = offered.count() - within.count();
    if excluded > 0 {
        msg.push_str(&format!(
            "; {excluded} more instance types exceed the nodepool's remaining limits ({})",
            remaining_limits(s, pi)
        ));
    }
    if requests.get(cpu).is_some_and(|c| *c >= 1_000_000_000) {
        msg.push_str(
            "; a CPU request of a million cores or more: did you mean 'm' rather than 'M'?",
        );
    }
    msg
}
