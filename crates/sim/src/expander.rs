//! Cluster Autoscaler's expanders and its balancing of similar node groups: given the
//! scale-up options (a node group, the pods it would place and the nodes it needs), pick
//! one as `--expander` would, then spread its nodes over the groups that differ from it
//! only in zone, as `--balance-similar-node-groups` does.

use karpenter_cloud::rng::Rng;

/// One way to scale up.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleOption {
    /// Node group index.
    pub group: usize,
    /// Pods the new nodes would take.
    pub pods: usize,
    /// Nodes needed.
    pub nodes: usize,
    /// Allocatable CPU and memory of the new nodes (millicores, bytes).
    pub allocatable: (f64, f64),
    /// What the placed pods request of them (millicores, bytes).
    pub requested: (f64, f64),
    /// The new nodes' price per hour.
    pub price: f64,
    /// The group's priority (priority expander).
    pub priority: i32,
}

/// `--expander`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expander {
    /// Least idle CPU and memory (fractions, averaged) after the scale-up.
    LeastWaste,
    /// Cheapest per requested CPU placed.
    Price,
    /// Highest priority; random among equals.
    Priority,
    /// Any, at random.
    Random,
}

impl Expander {
    /// From the flag's value (`least-waste` when absent or unknown; scenarios are
    /// validated first).
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("price") => Expander::Price,
            Some("priority") => Expander::Priority,
            Some("random") => Expander::Random,
            _ => Expander::LeastWaste,
        }
    }

    /// The flag's value.
    pub fn name(self) -> &'static str {
        match self {
            Expander::LeastWaste => "least-waste",
            Expander::Price => "price",
            Expander::Priority => "priority",
            Expander::Random => "random",
        }
    }
}

fn waste(o: &ScaleOption) -> f64 {
    let frac = |alloc: f64, used: f64| {
        if alloc > 0.0 {
            (alloc - used).max(0.0) / alloc
        } else {
            0.0
        }
    };
    (frac(o.allocatable.0, o.requested.0) + frac(o.allocatable.1, o.requested.1)) / 2.0
}

fn price_per_cpu(o: &ScaleOption) -> f64 {
    o.price / o.requested.0.max(1.0)
}

/// The option `expander` picks; `rng` breaks ties (CA picks at random among equals).
pub fn choose(expander: Expander, options: &[ScaleOption], rng: &mut Rng) -> Option<usize> {
    if options.is_empty() {
        return None;
    }
    let best: Vec<usize> = match expander {
        Expander::Random => (0..options.len()).collect(),
        Expander::Priority => {
            let top = options.iter().map(|o| o.priority).max()?;
            (0..options.len())
                .filter(|i| options[*i].priority == top)
                .collect()
        }
        Expander::LeastWaste | Expander::Price => {
            let score = |o: &ScaleOption| match expander {
                Expander::Price => price_per_cpu(o),
                _ => waste(o),
            };
            let min = options.iter().map(score).fold(f64::INFINITY, f64::min);
            (0..options.len())
                .filter(|i| score(&options[*i]) <= min + 1e-12)
                .collect()
        }
    };
    let pick = rng.below(best.len() as u64) as usize;
    best.get(pick).copied()
}

/// Spread `nodes` over `similar` groups (the chosen one among them), one node at a time to
/// the group with the fewest nodes (current plus assigned), never above a group's room.
/// `sizes[i]` and `room[i]` belong to `similar[i]`. Returns `(group, nodes)` pairs with at
/// least one node each, in `similar`'s order.
pub fn balance(
    similar: &[usize],
    sizes: &[usize],
    room: &[usize],
    nodes: usize,
) -> Vec<(usize, usize)> {
    let mut add = vec![0usize; similar.len()];
    for _ in 0..nodes {
        let next = (0..similar.len())
            .filter(|i| add[*i] < room[*i])
            .min_by_key(|i| (sizes[*i] + add[*i], *i));
        match next {
            Some(i) => add[i] += 1,
            None => break,
        }
    }
    similar
        .iter()
        .zip(add)
        .filter(|(_, n)| *n > 0)
        .map(|(g, n)| (*g, n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(group: usize, price: f64, used_cpu: f64, priority: i32) -> ScaleOption {
        ScaleOption {
            group,
            pods: 4,
            nodes: 1,
            allocatable: (4000.0, 16e9),
            requested: (used_cpu, 8e9),
            price,
            priority,
        }
    }

    #[test]
    fn each_expander_picks_by_its_own_rule() {
        let options = [
            option(0, 0.20, 2000.0, 1),
            option(1, 0.10, 3000.0, 0),
            option(2, 0.40, 3900.0, 5),
        ];
        let mut rng = Rng::new(1);
        assert_eq!(choose(Expander::LeastWaste, &options, &mut rng), Some(2));
        assert_eq!(choose(Expander::Price, &options, &mut rng), Some(1));
        assert_eq!(choose(Expander::Priority, &options, &mut rng), Some(2));
        let picks: std::collections::BTreeSet<usize> = (0..50)
            .filter_map(|_| choose(Expander::Random, &options, &mut rng))
            .collect();
        assert_eq!(picks.len(), 3, "random reaches every option");
        assert_eq!(choose(Expander::Price, &[], &mut rng), None);
    }

    #[test]
    fn balancing_fills_the_smallest_group_first_within_room() {
        // three zonal groups of 5, 2 and 3 nodes; the middle one has room for 2 only
        let out = balance(&[0, 1, 2], &[5, 2, 3], &[10, 2, 10], 6);
        assert_eq!(out, vec![(0, 1), (1, 2), (2, 3)]);
        assert_eq!(balance(&[4], &[0], &[1], 3), vec![(4, 1)]);
    }
}
