//! Taints and tolerations, matched as Kubernetes' `ToleratesTaint` does.

/// Effect of a taint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Effect {
    /// Pods that do not tolerate it are not scheduled.
    NoSchedule,
    /// The scheduler avoids the node (a preference).
    PreferNoSchedule,
    /// Pods that do not tolerate it are not scheduled and are evicted.
    NoExecute,
}

impl Effect {
    /// Parse a manifest effect name.
    pub fn parse(s: &str) -> Option<Effect> {
        match s {
            "NoSchedule" => Some(Effect::NoSchedule),
            "PreferNoSchedule" => Some(Effect::PreferNoSchedule),
            "NoExecute" => Some(Effect::NoExecute),
            _ => None,
        }
    }

    /// The manifest name.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::NoSchedule => "NoSchedule",
            Effect::PreferNoSchedule => "PreferNoSchedule",
            Effect::NoExecute => "NoExecute",
        }
    }
}

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value (empty when unset).
    pub value: String,
    /// Effect.
    pub effect: Effect,
}

impl Taint {
    /// Same key and effect (upstream's `MatchTaint`: the value does not matter).
    pub fn matches(&self, other: &Taint) -> bool {
        self.key == other.key && self.effect == other.effect
    }

    /// One of the taints a node carries only while it starts (upstream's known ephemeral
    /// taints: not-ready, unreachable, cloud-provider uninitialized, unregistered).
    pub fn is_known_ephemeral(&self) -> bool {
        crate::wellknown::taints::KNOWN_EPHEMERAL
            .iter()
            .any(|(key, _, effect)| self.key == *key && self.effect.as_str() == *effect)
    }
}

/// A pod toleration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Toleration {
    /// Key; empty with `exists` tolerates every key.
    pub key: String,
    /// `true` for operator Exists, `false` for Equal (the default).
    pub exists: bool,
    /// Value compared with Equal.
    pub value: String,
    /// Effect; `None` tolerates every effect.
    pub effect: Option<Effect>,
}

impl Toleration {
    /// Does this toleration tolerate `taint`?
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        if self.exists {
            return true;
        }
        // Equal needs a key (an empty key with Equal is invalid and tolerates nothing)
        !self.key.is_empty() && self.value == taint.value
    }
}

/// The first taint with a hard effect (NoSchedule, NoExecute) that `tolerations` do not
/// tolerate, if any: the reason a pod cannot go onto a node with `taints`.
pub fn untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| t.effect != Effect::PreferNoSchedule)
        .find(|t| !tolerations.iter().any(|tol| tol.tolerates(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: Effect) -> Taint {
        Taint {
            key: key.into(),
            value: value.into(),
            effect,
        }
    }

    fn tol(key: &str, exists: bool, value: &str, effect: Option<Effect>) -> Toleration {
        Toleration {
            key: key.into(),
            exists,
            value: value.into(),
            effect,
        }
    }

    #[test]
    fn equal_and_exists_match_like_kubernetes() {
        let t = taint("gpu", "true", Effect::NoSchedule);
        assert!(tol("gpu", false, "true", None).tolerates(&t));
        assert!(!tol("gpu", false, "false", None).tolerates(&t));
        assert!(tol("gpu", true, "", None).tolerates(&t));
        assert!(
            tol("", true, "", None).tolerates(&t),
            "empty key with Exists tolerates all"
        );
        assert!(!tol("", false, "", None).tolerates(&t));
        assert!(tol("gpu", true, "", Some(Effect::NoSchedule)).tolerates(&t));
        assert!(!tol("gpu", true, "", Some(Effect::NoExecute)).tolerates(&t));
    }

    #[test]
    fn only_hard_effects_must_be_tolerated() {
        let taints = vec![
            taint("soft", "", Effect::PreferNoSchedule),
            taint("hard", "x", Effect::NoExecute),
        ];
        assert_eq!(
            untolerated(&taints, &[]).map(|t| t.key.as_str()),
            Some("hard")
        );
        assert_eq!(untolerated(&taints, &[tol("hard", true, "", None)]), None);
    }
}
