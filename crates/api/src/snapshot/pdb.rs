//! A PodDisruptionBudget manifest in the disruption engine's terms.

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use karpenter_disruption::pdb::{IntOrPercent, Pdb};

use super::selectors::label_selector;
use crate::validate::FieldError;

fn int_or_percent(v: &IntOrString) -> Option<IntOrPercent> {
    match v {
        IntOrString::Int(n) => Some(IntOrPercent::Int(*n)),
        IntOrString::String(s) => IntOrPercent::parse(s),
    }
}

/// The budget of `b`; a selector or a value that does not parse is an error naming the
/// field.
pub fn pdb(b: &PodDisruptionBudget) -> Result<Pdb, FieldError> {
    let ns = b
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = format!("{ns}/{}", b.metadata.name.as_deref().unwrap_or(""));
    let err = |path: &str, message: String| FieldError {
        kind: "PodDisruptionBudget".into(),
        name: name.clone(),
        path: path.into(),
        message,
    };
    let spec = b.spec.clone().unwrap_or_default();
    let selector = label_selector(spec.selector.as_ref()).map_err(|e| err("spec.selector", e))?;
    let value = |path: &str, v: Option<&IntOrString>| -> Result<Option<IntOrPercent>, FieldError> {
        match v {
            None => Ok(None),
            Some(v) => int_or_percent(v)
                .map(Some)
                .ok_or_else(|| err(path, format!("{v:?} is not a count or a percentage"))),
        }
    };
    Ok(Pdb {
        min_available: value("spec.minAvailable", spec.min_available.as_ref())?,
        max_unavailable: value("spec.maxUnavailable", spec.max_unavailable.as_ref())?,
        id: name,
        namespace: ns,
        selector,
    })
}
