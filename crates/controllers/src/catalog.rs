//! The catalog the controllers solve with: the cloud's instance types, each NodePool's as
//! its NodeClass shapes them ([`CloudProvider::instance_types_for`]), limited to types some
//! NodePool's requirements allow, combined into one catalog with each pool limited to its
//! own part ([`karpenter_scheduling::per_pool_catalog`]). Kept while the cloud returns the
//! same catalogs, so a pass that changes nothing costs no copy.

use std::collections::BTreeSet;
use std::sync::Arc;

use karpenter_cloud::CloudProvider;
use karpenter_model::InstanceType;
use karpenter_model::time::Time;

use crate::input::Setup;

/// A shared instance-type catalog.
pub type Catalog = Arc<Vec<InstanceType>>;

/// The last combined catalog and what it was made from.
#[derive(Debug, Clone, Default)]
pub struct CatalogCache {
    /// Names of the types some NodePool can use (computed on first use per setup).
    usable: Option<BTreeSet<String>>,
    /// The cloud's catalog and each pool's, as last returned, and the combined catalog
    /// made from them.
    last: Option<(Catalog, Vec<Catalog>, Catalog)>,
}

impl CatalogCache {
    /// Forget everything (the setup changed).
    pub fn clear(&mut self) {
        *self = CatalogCache::default();
    }

    /// The combined catalog for `setup`'s pools; sets each pool's
    /// [`karpenter_scheduling::Pool::instance_types`] to its part when pools are shaped
    /// differently.
    pub fn get<C: CloudProvider>(&mut self, setup: &mut Setup, cloud: &C, now: Time) -> Catalog {
        let base = cloud.instance_types(now);
        let per_pool: Vec<Catalog> = setup
            .pools
            .iter()
            .map(|p| cloud.instance_types_for(&p.name, now))
            .collect();
        if let Some((b, pp, combined)) = &self.last
            && Arc::ptr_eq(b, &base)
            && pp.len() == per_pool.len()
            && pp.iter().zip(&per_pool).all(|(a, b)| Arc::ptr_eq(a, b))
        {
            return Arc::clone(combined);
        }
        // each distinct catalog once (pools sharing a shaping share its Arc)
        let mut distinct: Vec<&Catalog> = Vec::new();
        for c in std::iter::once(&base).chain(&per_pool) {
            if !distinct.iter().any(|d| Arc::ptr_eq(d, c)) {
                distinct.push(c);
            }
        }
        let pools = &setup.pools;
        let usable = self.usable.get_or_insert_with(|| {
            let requirements: Vec<_> = pools
                .iter()
                .map(|p| p.requirements.to_requirements())
                .collect();
            distinct
                .iter()
                .flat_map(|c| c.iter())
                .filter(|t| requirements.iter().any(|r| t.satisfies(r)))
                .map(|t| t.name.clone())
                .collect()
        });
        // the usable part of each, identity kept for the combination
        let filtered: Vec<(&Catalog, Catalog)> = distinct
            .iter()
            .map(|c| {
                let f: Vec<InstanceType> = c
                    .iter()
                    .filter(|t| usable.contains(&t.name))
                    .cloned()
                    .collect();
                (*c, Arc::new(f))
            })
            .collect();
        let usable_of = |c: &Catalog| -> Catalog {
            filtered
                .iter()
                .find(|(s, _)| Arc::ptr_eq(s, c))
                .map_or_else(|| Arc::clone(c), |(_, f)| Arc::clone(f))
        };
        let base_f = usable_of(&base);
        let per_pool_f: Vec<Catalog> = per_pool.iter().map(usable_of).collect();
        for p in &mut setup.pools {
            p.instance_types = None;
        }
        let combined =
            karpenter_scheduling::per_pool_catalog(&base_f, &mut setup.pools, &per_pool_f);
        self.last = Some((base, per_pool, Arc::clone(&combined)));
        combined
    }
}
