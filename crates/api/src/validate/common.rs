//! The checker that collects field errors, and the checks NodePool, NodeClaim and
//! EC2NodeClass share: requirements, taints, label maps, node-class references, quantities.

use std::collections::{BTreeMap, BTreeSet};

use karpenter_model::wellknown::{self, in_domain};
use karpenter_model::{Duration, NillableDuration, Quantity};
use kube::ResourceExt;

use super::FieldError;
use crate::common::{NodeClassReference, NodeSelectorRequirementWithMinValues, Operator, Taint};
use crate::patterns::{self, matches};

/// Collects the problems of one object.
#[derive(Debug)]
pub struct Checker {
    kind: String,
    name: String,
    errors: Vec<FieldError>,
}

impl Checker {
    /// A checker for the object `kind`/`name`.
    pub fn new(kind: &str, name: &str) -> Self {
        Checker {
            kind: kind.to_string(),
            name: name.to_string(),
            errors: Vec::new(),
        }
    }

    /// A checker for a Kubernetes object, checking its name too.
    pub fn for_object<K: kube::Resource<DynamicType = ()>>(obj: &K) -> Self {
        let kind = K::kind(&()).to_string();
        let mut c = Checker::new(&kind, &obj.name_any());
        c.object_name(obj.meta().name.as_deref());
        c
    }

    /// Record a problem at `path`.
    pub fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            kind: self.kind.clone(),
            name: self.name.clone(),
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// The collected problems.
    pub fn finish(self) -> Vec<FieldError> {
        self.errors
    }

    /// `metadata.name` is set and a DNS subdomain.
    fn object_name(&mut self, name: Option<&str>) {
        const DNS_SUBDOMAIN: &str =
            r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
        match name {
            None | Some("") => self.error("metadata.name", "name is required"),
            Some(n) if n.len() > 253 || !matches(DNS_SUBDOMAIN, n) => self.error(
                "metadata.name",
                format!("{n:?} is not a valid name: lowercase letters, digits, '-' and '.', at most 253 characters"),
            ),
            Some(_) => {}
        }
    }

    /// `value` matches `pattern`; `what` says what the value should be.
    pub(crate) fn pattern(&mut self, path: &str, value: &str, pattern: &'static str, what: &str) {
        if !matches(pattern, value) {
            self.error(path, format!("{value:?} is not {what}"));
        }
    }

    /// `value` is at most `max` characters.
    pub(crate) fn max_len(&mut self, path: &str, value: &str, max: usize) {
        let n = value.chars().count();
        if n > max {
            self.error(path, format!("must be at most {max} characters, got {n}"));
        }
    }

    /// `value` lies in `min..=max`.
    pub(crate) fn range(&mut self, path: &str, value: Option<i64>, min: i64, max: i64) {
        if let Some(v) = value
            && (v < min || v > max)
        {
            if max == i64::MAX {
                self.error(path, format!("must be at least {min}, got {v}"));
            } else {
                self.error(path, format!("must be between {min} and {max}, got {v}"));
            }
        }
    }

    /// A list has at most `max` items.
    pub(crate) fn max_items(&mut self, path: &str, len: usize, max: usize) {
        if len > max {
            self.error(path, format!("must have at most {max} items, got {len}"));
        }
    }

    /// `value` is one of `allowed`.
    pub(crate) fn one_of(&mut self, path: &str, value: Option<&str>, allowed: &[&str]) {
        if let Some(v) = value
            && !allowed.contains(&v)
        {
            self.error(path, format!("{v:?} is not one of {}", allowed.join(", ")));
        }
    }

    /// A nillable duration (`720h`, `Never`).
    pub(crate) fn nillable_duration(&mut self, path: &str, value: &str) {
        if !matches(patterns::NILLABLE_DURATION, value) || NillableDuration::parse(value).is_err() {
            self.error(
                path,
                format!(
                    "{value:?} is not a duration of s, m and h units or Never (e.g. 720h, 1h30m)"
                ),
            );
        }
    }

    /// A duration of s, m and h units.
    pub(crate) fn duration(&mut self, path: &str, value: &str) {
        if !matches(patterns::DURATION, value) || Duration::parse(value).is_err() {
            self.error(
                path,
                format!("{value:?} is not a duration of s, m and h units (e.g. 30s, 10m, 24h)"),
            );
        }
    }

    /// A resource quantity.
    pub(crate) fn quantity(&mut self, path: &str, value: &str) -> Option<Quantity> {
        match Quantity::parse(value) {
            Ok(q) if matches(patterns::QUANTITY, value.trim()) => Some(q),
            Ok(_) => {
                self.error(
                    path,
                    format!("{value:?} is not a resource quantity (e.g. 100m, 4, 16Gi)"),
                );
                None
            }
            Err(e) => {
                self.error(path, e.to_string());
                None
            }
        }
    }

    /// Every quantity of a resource list parses and none is negative.
    pub(crate) fn resource_list(&mut self, path: &str, list: &crate::ResourceList) {
        for (name, q) in list {
            let p = format!("{path}[{name}]");
            if let Some(v) = self.quantity(&p, &q.0)
                && v.is_negative()
            {
                self.error(&p, format!("{:?} must not be negative", q.0));
            }
        }
    }

    /// A node-class reference has a group without `/`, a kind and a name.
    pub(crate) fn node_class_ref(&mut self, path: &str, r: &NodeClassReference) {
        for (field, value) in [("group", &r.group), ("kind", &r.kind), ("name", &r.name)] {
            if value.is_empty() {
                self.error(
                    &format!("{path}.{field}"),
                    format!("{field} may not be empty"),
                );
            }
        }
        if r.group.contains('/') {
            self.error(
                &format!("{path}.group"),
                format!("{:?} must not contain '/'", r.group),
            );
        }
    }

    /// A label key is qualified and at most 316 characters.
    fn label_key_syntax(&mut self, path: &str, key: &str) {
        if key.is_empty() {
            self.error(path, "key may not be empty");
            return;
        }
        self.max_len(path, key, 316);
        self.pattern(
            path,
            key,
            patterns::QUALIFIED_NAME,
            "a qualified label key (e.g. example.com/team)",
        );
    }

    /// A label value is at most 63 characters of the label alphabet.
    fn label_value(&mut self, path: &str, value: &str) {
        self.max_len(path, value, 63);
        self.pattern(
            path,
            value,
            patterns::LABEL_VALUE,
            "a valid label value (letters, digits, '-', '_' and '.', starting and ending alphanumeric)",
        );
    }

    /// Key restrictions of NodePool labels and requirements, or NodeClaim requirements.
    fn restricted_key(&mut self, path: &str, key: &str, scope: KeyScope) {
        for reason in restriction(key, scope) {
            self.error(path, reason);
        }
    }

    /// A NodePool's template labels.
    pub(crate) fn template_labels(&mut self, path: &str, labels: &BTreeMap<String, String>) {
        if labels.len() > 100 {
            self.error(
                path,
                format!("must have at most 100 labels, got {}", labels.len()),
            );
        }
        for (key, value) in labels {
            let p = format!("{path}[{key}]");
            self.label_key_syntax(&p, key);
            self.restricted_key(&p, key, KeyScope::PoolLabel);
            self.label_value(&p, value);
        }
    }

    /// A list of requirements.
    pub(crate) fn requirements(
        &mut self,
        path: &str,
        reqs: &[NodeSelectorRequirementWithMinValues],
        scope: KeyScope,
    ) {
        self.max_items(path, reqs.len(), 100);
        for (i, r) in reqs.iter().enumerate() {
            self.requirement(&format!("{path}[{i}]"), r, scope);
        }
    }

    fn requirement(
        &mut self,
        path: &str,
        r: &NodeSelectorRequirementWithMinValues,
        scope: KeyScope,
    ) {
        let key_path = format!("{path}.key");
        self.label_key_syntax(&key_path, &r.key);
        self.restricted_key(&key_path, &r.key, scope);
        for (i, v) in r.values.iter().enumerate() {
            self.label_value(&format!("{path}.values[{i}]"), v);
        }
        let op = r.operator.as_str();
        match r.operator {
            Operator::In if r.values.is_empty() => {
                self.error(path, "operator In needs at least one value");
            }
            o if o.is_numeric() => {
                let ok = r.values.len() == 1 && r.values[0].parse::<u64>().is_ok();
                if !ok {
                    self.error(
                        path,
                        format!("operator {op} needs exactly one non-negative integer value"),
                    );
                }
            }
            _ => {}
        }
        if let Some(min) = r.min_values {
            self.range(&format!("{path}.minValues"), Some(min), 1, 50);
            if r.operator == Operator::In && (r.values.len() as i64) < min {
                self.error(
                    &format!("{path}.minValues"),
                    format!(
                        "minValues {min} needs at least {min} values, got {}",
                        r.values.len()
                    ),
                );
            }
        }
    }

    /// Taints and startup taints: syntax, and no key/effect pair twice across both lists.
    pub(crate) fn taints(
        &mut self,
        spec_path: &str,
        taints: Option<&[Taint]>,
        startup: Option<&[Taint]>,
    ) {
        let mut seen: BTreeSet<(String, &str)> = BTreeSet::new();
        for (field, list) in [("taints", taints), ("startupTaints", startup)] {
            for (i, t) in list.unwrap_or_default().iter().enumerate() {
                let p = format!("{spec_path}.{field}[{i}]");
                if t.key.is_empty() {
                    self.error(&format!("{p}.key"), "key may not be empty");
                } else {
                    self.max_len(&format!("{p}.key"), &t.key, 316);
                    self.pattern(
                        &format!("{p}.key"),
                        &t.key,
                        patterns::QUALIFIED_NAME,
                        "a qualified taint key",
                    );
                }
                if let Some(v) = &t.value {
                    self.label_value(&format!("{p}.value"), v);
                }
                if !seen.insert((t.key.clone(), t.effect.as_str())) {
                    self.error(
                        &p,
                        format!("duplicate taint {}:{}", t.key, t.effect.as_str()),
                    );
                }
            }
        }
    }
}

/// Which key restrictions apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyScope {
    /// NodePool `template.metadata.labels`.
    PoolLabel,
    /// NodePool requirements (AWS well-known labels allowed).
    PoolRequirement,
    /// NodeClaim requirements (the nodepool key allowed).
    ClaimRequirement,
}

/// Every rule `key` breaks in `scope`, in upstream's words (as an API server reports each
/// failing CEL rule); empty when the key may be used.
pub(crate) fn restriction(key: &str, scope: KeyScope) -> Vec<&'static str> {
    use wellknown::labels;
    // since v1.9 upstream restricts only the karpenter.sh domain (and the two keys below);
    // kubernetes.io and k8s.io keys such as node-role.kubernetes.io/worker are allowed
    let mut broken = Vec::new();
    if in_domain(key, "karpenter.sh") && ![labels::CAPACITY_TYPE, labels::NODEPOOL].contains(&key) {
        broken.push(r#"label domain "karpenter.sh" is restricted"#);
    }
    if key == labels::NODEPOOL && scope != KeyScope::ClaimRequirement {
        broken.push(r#"label "karpenter.sh/nodepool" is restricted"#);
    }
    if key == labels::HOSTNAME {
        broken.push(r#"label "kubernetes.io/hostname" is restricted"#);
    }
    // labels and requirements of both kinds may use the keys upstream's CRD rule allows,
    // nothing else of the karpenter.k8s.aws domain
    let aws_restricted = in_domain(key, "karpenter.k8s.aws") && !crate::cel::aws_label_allowed(key);
    if aws_restricted {
        broken.push(r#"label domain "karpenter.k8s.aws" is restricted"#);
    }
    broken
}
