//! Dense working forms for the hot loops: resource lists as fixed-length integer vectors
//! (milli-units, one slot per resource name seen in the input) and small bitsets over
//! instance types.

use std::collections::BTreeMap;

use karpenter_model::{Quantity, Resources};

/// Resource names, each with its slot in a [`Vector`].
#[derive(Debug, Clone, Default)]
pub struct ResourceNames {
    slots: BTreeMap<String, usize>,
    names: Vec<String>,
}

/// A resource list: milli-units per slot.
pub type Vector = Vec<i64>;

fn millis(q: Quantity) -> i64 {
    i64::try_from(q.millis()).unwrap_or(if q.millis() < 0 { i64::MIN } else { i64::MAX })
}

impl ResourceNames {
    /// Learn the names of a resource list.
    pub fn learn(&mut self, r: &Resources) {
        for name in r.keys() {
            if !self.slots.contains_key(name) {
                self.slots.insert(name.clone(), self.names.len());
                self.names.push(name.clone());
            }
        }
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// The name of slot `i`.
    pub fn name(&self, i: usize) -> Option<&str> {
        self.names.get(i).map(String::as_str)
    }

    /// The slot of `name`.
    pub fn slot(&self, name: &str) -> Option<usize> {
        self.slots.get(name).copied()
    }

    /// The dense form of `r` (names not learnt are dropped).
    pub fn vector(&self, r: &Resources) -> Vector {
        let mut v = vec![0; self.names.len()];
        for (name, q) in r {
            if let Some(&i) = self.slots.get(name) {
                v[i] = millis(*q);
            }
        }
        v
    }

    /// Back to a resource list, in name order, zero entries dropped.
    pub fn resources(&self, v: &[i64]) -> Resources {
        self.names
            .iter()
            .zip(v)
            .filter(|(_, q)| **q != 0)
            .map(|(n, q)| (n.clone(), Quantity::from_millis(i128::from(*q))))
            .collect()
    }
}

/// `a += b`.
pub fn add(a: &mut [i64], b: &[i64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = x.saturating_add(*y);
    }
}

/// `a -= b`.
pub fn sub(a: &mut [i64], b: &[i64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = x.saturating_sub(*y);
    }
}

/// `used + extra <= cap` in every slot `extra` or `used` requests.
pub fn fits(used: &[i64], extra: &[i64], cap: &[i64]) -> bool {
    used.iter()
        .zip(extra)
        .zip(cap)
        .all(|((u, e), c)| (*u == 0 && *e == 0) || u.saturating_add(*e) <= *c)
}

/// A set of small integers (instance-type indices).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    /// An empty set able to hold `0..n`.
    pub fn new(n: usize) -> Self {
        Bitset {
            words: vec![0; n.div_ceil(64)],
        }
    }

    /// The set `0..n`.
    pub fn full(n: usize) -> Self {
        let mut b = Bitset::new(n);
        for i in 0..n {
            b.insert(i);
        }
        b
    }

    /// Add `i`.
    pub fn insert(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    /// Remove `i`.
    pub fn remove(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w &= !(1 << (i % 64));
        }
    }

    /// Is `i` in the set?
    pub fn contains(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Keep only members of `other`.
    pub fn and(&mut self, other: &Bitset) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
    }

    /// Number of members.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// No members?
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// Members in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitset_ops() {
        let mut a = Bitset::full(130);
        assert_eq!(a.count(), 130);
        let mut b = Bitset::new(130);
        b.insert(3);
        b.insert(129);
        b.insert(64);
        a.and(&b);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![3, 64, 129]);
        a.remove(64);
        assert!(!a.contains(64) && a.contains(129));
        assert!(!a.is_empty());
    }

    #[test]
    fn vectors_fit_per_slot() {
        let mut names = ResourceNames::default();
        let r: Resources = [("cpu".to_string(), Quantity::from_millis(1500))].into();
        names.learn(&r);
        let v = names.vector(&r);
        assert_eq!(v, vec![1500]);
        assert!(fits(&[500], &[1000], &[1500]));
        assert!(!fits(&[501], &[1000], &[1500]));
        assert!(fits(&[0], &[0], &[-1]), "nothing requested fits anything");
        assert_eq!(names.resources(&v), r);
    }
}
