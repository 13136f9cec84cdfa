//! NodePool validation: upstream's schema and CEL rules, plus the runtime checks its
//! controller applies (cron schedules, quantities, duplicate taints).

use super::common::KeyScope;
use super::{Checker, FieldError, Validate};
use crate::NodePool;
use crate::patterns;

impl Validate for NodePool {
    fn validate(&self) -> Vec<FieldError> {
        let mut c = Checker::for_object(self);
        let spec = &self.spec;
        let tpl = "spec.template";
        if let Some(labels) = &spec.template.metadata.labels {
            c.template_labels(&format!("{tpl}.metadata.labels"), labels);
        }
        let s = &spec.template.spec;
        let sp = format!("{tpl}.spec");
        c.requirements(
            &format!("{sp}.requirements"),
            &s.requirements,
            KeyScope::PoolRequirement,
        );
        c.taints(&sp, s.taints.as_deref(), s.startup_taints.as_deref());
        c.node_class_ref(&format!("{sp}.nodeClassRef"), &s.node_class_ref);
        c.nillable_duration(&format!("{sp}.expireAfter"), &s.expire_after);
        if let Some(tgp) = &s.termination_grace_period {
            c.duration(&format!("{sp}.terminationGracePeriod"), tgp);
        }

        let d = &spec.disruption;
        c.nillable_duration("spec.disruption.consolidateAfter", &d.consolidate_after);
        c.max_items("spec.disruption.budgets", d.budgets.len(), 50);
        for (i, b) in d.budgets.iter().enumerate() {
            let p = format!("spec.disruption.budgets[{i}]");
            c.pattern(
                &format!("{p}.nodes"),
                &b.nodes,
                patterns::BUDGET_NODES,
                "a node count or a percentage from 0% to 100%",
            );
            if let Some(reasons) = &b.reasons {
                c.max_items(&format!("{p}.reasons"), reasons.len(), 50);
                for (j, r) in reasons.iter().enumerate() {
                    if reasons[..j].contains(r) {
                        c.error(
                            &format!("{p}.reasons[{j}]"),
                            format!("duplicate value {r:?}: reasons is a set"),
                        );
                    }
                }
            }
            match (&b.schedule, &b.duration) {
                (Some(_), None) | (None, Some(_)) => {
                    c.error(&p, "'schedule' must be set with 'duration'");
                }
                _ => {}
            }
            if let Some(schedule) = &b.schedule
                && let Err(e) = check_cron(schedule)
            {
                c.error(&format!("{p}.schedule"), e);
            }
            if let Some(duration) = &b.duration {
                c.pattern(
                    &format!("{p}.duration"),
                    duration,
                    patterns::BUDGET_DURATION,
                    "a duration of hours and minutes (e.g. 8h, 1h30m)",
                );
            }
        }
        if let Some(limits) = &spec.limits {
            c.resource_list("spec.limits", limits);
        }
        c.range("spec.weight", spec.weight.map(i64::from), 1, 100);
        if let Some(replicas) = spec.replicas {
            c.range("spec.replicas", Some(replicas), 0, i64::MAX);
            if spec.weight.is_some() {
                c.error(
                    "spec.weight",
                    "'weight' is not supported on static NodePools",
                );
            }
            if let Some(limits) = &spec.limits
                && limits.keys().any(|k| k != "nodes")
            {
                c.error(
                    "spec.limits",
                    "only 'limits.nodes' is supported on static NodePools",
                );
            }
        }
        c.finish()
    }
}

/// Check a budget schedule: a cron macro or five fields whose values are in range.
pub(crate) fn check_cron(schedule: &str) -> Result<(), String> {
    const MACROS: &[&str] = &[
        "@annually",
        "@yearly",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
    ];
    if schedule.starts_with('@') {
        return if MACROS.contains(&schedule) {
            Ok(())
        } else {
            Err(format!(
                "{schedule:?} is not a cron macro ({})",
                MACROS.join(", ")
            ))
        };
    }
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "{schedule:?} is not a cron schedule: expected 5 fields (minute hour day-of-month month day-of-week), got {}",
            fields.len()
        ));
    }
    const NAMES: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
    const BOUNDS: [(u32, u32); 5] = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    for (i, field) in fields.iter().enumerate() {
        let (lo, hi) = BOUNDS[i];
        let value = |s: &str| -> Option<u32> {
            let lower = s.to_ascii_lowercase();
            match i {
                3 => MONTHS
                    .iter()
                    .position(|m| *m == lower)
                    .map(|p| p as u32 + 1),
                4 => DAYS.iter().position(|d| *d == lower).map(|p| p as u32),
                _ => None,
            }
            .or_else(|| s.parse().ok())
            .filter(|v| (lo..=hi).contains(v))
        };
        for part in field.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (part, None),
            };
            let step_ok = step.is_none_or(|s| s.parse::<u32>().is_ok_and(|n| n > 0));
            let range_ok = match range {
                "*" | "?" => true,
                r => match r.split_once('-') {
                    Some((a, b)) => matches!((value(a), value(b)), (Some(x), Some(y)) if x <= y),
                    None => value(r).is_some(),
                },
            };
            if !(step_ok && range_ok) {
                return Err(format!(
                    "{schedule:?} is not a cron schedule: {} field {part:?} must be within {lo}-{hi}",
                    NAMES[i]
                ));
            }
        }
    }
    Ok(())
}
