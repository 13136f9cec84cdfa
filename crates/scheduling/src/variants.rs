//! Instance types per NodePool. A cloud may shape the same instance type differently for
//! different pools (upstream's `GetInstanceTypes(nodePool)`: an EC2NodeClass's kubelet
//! `maxPods`, reservations, root volume or AMI family change capacity and allocatable). The
//! engine takes one catalog, so each distinct shaping is appended to it once and every pool
//! is limited, through [`Pool::instance_types`], to the part that is its own.

use std::collections::BTreeMap;
use std::sync::Arc;

use karpenter_model::InstanceType;

use crate::input::Pool;

/// The one catalog for `pools`, where `catalogs[i]` is the catalog of `pools[i]` (a pool
/// without an entry uses `base`). Catalogs are told apart by identity (`Arc::ptr_eq`), so a
/// cloud hands pools that share a shaping the same `Arc`. Pools on `base` keep their
/// [`Pool::instance_types`] (indices into `base`, which stays first); a pool on another
/// catalog gets that catalog's indices, its earlier subset carried over by type name. When
/// every pool uses `base`, `base` is returned and no pool changes.
pub fn per_pool_catalog(
    base: &Arc<Vec<InstanceType>>,
    pools: &mut [Pool],
    catalogs: &[Arc<Vec<InstanceType>>],
) -> Arc<Vec<InstanceType>> {
    let own = |i: usize| catalogs.get(i).filter(|c| !Arc::ptr_eq(c, base));
    if (0..pools.len()).all(|i| own(i).is_none()) {
        return Arc::clone(base);
    }
    let mut all: Vec<InstanceType> = base.as_ref().clone();
    // (catalog, where it starts in `all`), in first-use order
    let mut starts: Vec<(&Arc<Vec<InstanceType>>, usize)> = Vec::new();
    for (i, pool) in pools.iter_mut().enumerate() {
        let Some(catalog) = own(i) else {
            continue;
        };
        let start = match starts.iter().find(|(c, _)| Arc::ptr_eq(c, catalog)) {
            Some((_, start)) => *start,
            None => {
                let start = all.len();
                all.extend(catalog.iter().cloned());
                starts.push((catalog, start));
                start
            }
        };
        let range = start..start + catalog.len();
        pool.instance_types = Some(match &pool.instance_types {
            None => range.collect(),
            Some(subset) => {
                let by_name: BTreeMap<&str, usize> = catalog
                    .iter()
                    .enumerate()
                    .map(|(j, t)| (t.name.as_str(), start + j))
                    .collect();
                subset
                    .iter()
                    .filter_map(|&j| base.get(j))
                    .filter_map(|t| by_name.get(t.name.as_str()).copied())
                    .collect()
            }
        });
    }
    Arc::new(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(names: &[&str], pods: i64) -> Arc<Vec<InstanceType>> {
        Arc::new(
            names
                .iter()
                .map(|n| {
                    let mut t = InstanceType {
                        name: (*n).to_string(),
                        capacity: Default::default(),
                        overhead: Default::default(),
                        requirements: Vec::new(),
                        offerings: Vec::new(),
                    };
                    t.capacity.insert(
                        "pods".into(),
                        karpenter_model::Quantity::from_units(i128::from(pods)),
                    );
                    t
                })
                .collect(),
        )
    }

    fn pool(name: &str) -> Pool {
        Pool {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn one_shaping_changes_nothing() {
        let base = types(&["a", "b"], 110);
        let mut pools = vec![pool("x"), pool("y")];
        let all = per_pool_catalog(&base, &mut pools, &[Arc::clone(&base), Arc::clone(&base)]);
        assert!(Arc::ptr_eq(&all, &base));
        assert!(pools.iter().all(|p| p.instance_types.is_none()));
    }

    #[test]
    fn each_shaping_is_appended_once_and_pools_limited_to_theirs() {
        let base = types(&["a", "b"], 110);
        let small = types(&["a", "b"], 20);
        let mut pools = vec![pool("x"), pool("y"), pool("z")];
        let catalogs = [Arc::clone(&base), Arc::clone(&small), Arc::clone(&small)];
        let all = per_pool_catalog(&base, &mut pools, &catalogs);
        assert_eq!(all.len(), 4);
        assert_eq!(pools[0].instance_types, None);
        assert_eq!(pools[1].instance_types, Some(vec![2, 3]));
        assert_eq!(pools[2].instance_types, Some(vec![2, 3]));
        assert_eq!(all[2].capacity.get("pods"), small[0].capacity.get("pods"));
    }

    #[test]
    fn a_subset_is_carried_over_by_name() {
        let base = types(&["a", "b", "c"], 110);
        let shaped = types(&["b", "c"], 20);
        let mut pools = vec![Pool {
            instance_types: Some(vec![0, 2]),
            ..pool("x")
        }];
        let all = per_pool_catalog(&base, &mut pools, &[Arc::clone(&shaped)]);
        assert_eq!(all.len(), 5);
        // "a" is not in the shaped catalog; "c" is its second type
        assert_eq!(pools[0].instance_types, Some(vec![4]));
    }
}
