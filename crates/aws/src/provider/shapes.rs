//! The provider's catalogs: the instance types translated with the controller's settings
//! (the base), and one variant per distinct EC2NodeClass shaping (kubelet `maxPods`,
//! `podsPerCore`, reservations, root volume, AMI family, and the capacity reservations it
//! selects as `reserved` offerings), each seen through the insufficient-capacity cache. Variants are translated on first use and kept until the
//! types or prices are read again; pools that share a shaping share the same `Arc`, which
//! is how the controllers tell catalogs apart.

use std::cell::RefCell;
use std::sync::Arc;

use karpenter_catalog::aws::AwsSettings;

use crate::reservations::ReservationInfo;
use karpenter_cloud::ice::{IceCache, IcedView};
use karpenter_model::InstanceType;
use karpenter_model::time::Time;

/// What a variant is translated with.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ShapeKey {
    /// The class's translation settings.
    pub settings: AwsSettings,
    /// The reservations the class selects.
    pub reservations: Vec<ReservationInfo>,
}

/// One translation and its view through the ICE cache.
#[derive(Debug, Default)]
struct Shape {
    raw: Arc<Vec<InstanceType>>,
    view: IcedView,
}

/// The base catalog and the variants.
#[derive(Debug, Default)]
pub(super) struct Shapes {
    base: Shape,
    variants: RefCell<Vec<(ShapeKey, Shape)>>,
}

impl Shapes {
    /// A new base translation; the variants are made again on next use.
    pub(super) fn set_base(&mut self, raw: Vec<InstanceType>) {
        self.base = Shape {
            raw: Arc::new(raw),
            view: IcedView::default(),
        };
        self.variants.get_mut().clear();
    }

    /// The base translation without the ICE cache (reading instances back).
    pub(super) fn base_raw(&self) -> &[InstanceType] {
        &self.base.raw
    }

    /// The base catalog as the scheduler sees it at `now`.
    pub(super) fn base(&self, ice: &IceCache, now: Time) -> Arc<Vec<InstanceType>> {
        self.base.view.get(ice, &self.base.raw, now)
    }

    /// The catalog translated with `key` as the scheduler sees it at `now`; `translate`
    /// makes it the first time.
    pub(super) fn shaped(
        &self,
        key: &ShapeKey,
        ice: &IceCache,
        now: Time,
        translate: impl FnOnce(&ShapeKey) -> Vec<InstanceType>,
    ) -> Arc<Vec<InstanceType>> {
        let mut variants = self.variants.borrow_mut();
        if let Some((_, s)) = variants.iter().find(|(v, _)| v == key) {
            return s.view.get(ice, &s.raw, now);
        }
        let shape = Shape {
            raw: Arc::new(translate(key)),
            view: IcedView::default(),
        };
        let out = shape.view.get(ice, &shape.raw, now);
        variants.push((key.clone(), shape));
        out
    }

    /// Forget the variants (a reservation's count changed); made again on next use.
    pub(super) fn clear_variants(&mut self) {
        self.variants.get_mut().clear();
    }

    /// Forget every view (the ICE cache changed).
    pub(super) fn clear_views(&self) {
        self.base.view.clear();
        for (_, s) in self.variants.borrow().iter() {
            s.view.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str) -> Vec<InstanceType> {
        vec![InstanceType {
            name: name.into(),
            capacity: Default::default(),
            overhead: Default::default(),
            requirements: Vec::new(),
            offerings: Vec::new(),
        }]
    }

    #[test]
    fn a_shaping_is_translated_once_and_shared() {
        let mut shapes = Shapes::default();
        shapes.set_base(one("base"));
        let ice = IceCache::default();
        let small = ShapeKey {
            settings: AwsSettings {
                max_pods: Some(20),
                ..AwsSettings::default()
            },
            reservations: Vec::new(),
        };
        let mut made = 0;
        let a = shapes.shaped(&small, &ice, 0, |_| {
            made += 1;
            one("small")
        });
        let b = shapes.shaped(&small, &ice, 0, |_| {
            made += 1;
            one("again")
        });
        assert_eq!(made, 1);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a[0].name, "small");
        assert!(!Arc::ptr_eq(&a, &shapes.base(&ice, 0)));
        // new types or prices: the variant is made again
        shapes.set_base(one("base2"));
        let c = shapes.shaped(&small, &ice, 0, |_| one("remade"));
        assert_eq!(c[0].name, "remade");
    }
}
