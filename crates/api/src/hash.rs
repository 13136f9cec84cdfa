//! Upstream's NodePool template hash (`karpenter.sh/nodepool-hash`, version `v3`), bit for
//! bit: Go's `hashstructure/v2` (`FormatV2`, `SlicesAsSets`, `IgnoreZeroValue`, `ZeroNil`)
//! over `spec.template` with its requirements ignored, FNV-1 64-bit, printed in decimal.
//! Static drift compares this value on the NodePool with the one its NodeClaims carry, so
//! a hash that differed from upstream's by one bit would mark every node of a migrated
//! cluster drifted. Checked against hashes that upstream stamped on real NodePools.

use std::collections::BTreeMap;

use crate::NodePool;
use crate::common::Taint;

/// A value as Go's reflection hands it to `hashstructure`: only the kinds a NodePool
/// template contains.
enum Go {
    Str(String),
    Int(i64),
    /// A struct: its type name and fields in declaration order; `None` is a zero field
    /// (`IgnoreZeroValue` skips it).
    Struct(&'static str, Vec<(&'static str, Option<Go>)>),
    /// A slice hashed as a set (`SlicesAsSets`).
    Set(Vec<Go>),
    Map(Vec<(Go, Go)>),
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1 (multiply, then xor), Go's `fnv.New64`.
fn fnv1(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(FNV_OFFSET, |h, b| h.wrapping_mul(FNV_PRIME) ^ u64::from(*b))
}

fn ordered(a: u64, b: u64) -> u64 {
    let mut buf = [0u8; 16];
    buf[..8].copy_from_slice(&a.to_le_bytes());
    buf[8..].copy_from_slice(&b.to_le_bytes());
    fnv1(&buf)
}

fn finish(a: u64) -> u64 {
    fnv1(&a.to_le_bytes())
}

fn hash(v: &Go) -> u64 {
    match v {
        Go::Str(s) => fnv1(s.as_bytes()),
        Go::Int(i) => fnv1(&i.to_le_bytes()),
        Go::Struct(name, fields) => {
            let mut h = fnv1(name.as_bytes());
            // as upstream's walker: the finishing step runs after every field that is
            // hashed, and not after skipped (zero) ones
            for (field, value) in fields {
                if let Some(value) = value {
                    h ^= ordered(fnv1(field.as_bytes()), hash(value));
                    h = finish(h);
                }
            }
            h
        }
        Go::Set(items) => items.iter().fold(0, |h, i| h ^ hash(i)),
        Go::Map(entries) => finish(
            entries
                .iter()
                .fold(0, |h, (k, v)| h ^ ordered(hash(k), hash(v))),
        ),
    }
}

fn string(s: &str) -> Option<Go> {
    (!s.is_empty()).then(|| Go::Str(s.to_string()))
}

fn map(m: Option<&BTreeMap<String, String>>) -> Option<Go> {
    m.map(|m| {
        Go::Map(
            m.iter()
                .map(|(k, v)| (Go::Str(k.clone()), Go::Str(v.clone())))
                .collect(),
        )
    })
}

fn taints(t: Option<&Vec<Taint>>) -> Option<Go> {
    t.map(|t| {
        Go::Set(
            t.iter()
                .map(|t| {
                    Go::Struct(
                        "Taint",
                        vec![
                            ("Key", string(&t.key)),
                            ("Value", t.value.as_deref().and_then(string)),
                            ("Effect", string(t.effect.as_str())),
                        ],
                    )
                })
                .collect(),
        )
    })
}

/// A duration field as nanoseconds; text that does not parse hashes as its zero (the
/// validation reports it).
fn nanos(text: &str) -> i64 {
    karpenter_model::Duration::parse(text).map_or(0, |d| d.as_nanos())
}

/// `karpenter.sh/nodepool-hash` of `np`, as upstream computes it.
pub fn nodepool_hash(np: &NodePool) -> String {
    let t = &np.spec.template;
    let meta = &t.metadata;
    let object_meta = (meta.labels.is_some() || meta.annotations.is_some()).then(|| {
        Go::Struct(
            "ObjectMeta",
            vec![
                ("Labels", map(meta.labels.as_ref())),
                ("Annotations", map(meta.annotations.as_ref())),
            ],
        )
    });
    let s = &t.spec;
    let r = &s.node_class_ref;
    let class_ref = Go::Struct(
        "NodeClassReference",
        vec![
            ("Kind", string(&r.kind)),
            ("Name", string(&r.name)),
            ("Group", string(&r.group)),
        ],
    );
    let grace = s.termination_grace_period.as_deref().map(|d| {
        let n = nanos(d);
        Go::Struct(
            "Duration",
            vec![("Duration", (n != 0).then_some(Go::Int(n)))],
        )
    });
    // NillableDuration embeds *time.Duration: Never is a nil pointer, a zero struct
    let expire = match karpenter_model::NillableDuration::parse(&s.expire_after) {
        Ok(karpenter_model::NillableDuration::After(d)) => Some(Go::Struct(
            "NillableDuration",
            vec![("Duration", Some(Go::Int(d.as_nanos())))],
        )),
        _ => None,
    };
    let spec = Go::Struct(
        "NodeClaimTemplateSpec",
        vec![
            ("Taints", taints(s.taints.as_ref())),
            ("StartupTaints", taints(s.startup_taints.as_ref())),
            ("NodeClassRef", Some(class_ref)),
            ("TerminationGracePeriod", grace),
            ("ExpireAfter", expire),
        ],
    );
    let template = Go::Struct(
        "NodeClaimTemplate",
        vec![("ObjectMeta", object_meta), ("Spec", Some(spec))],
    );
    hash(&template).to_string()
}
