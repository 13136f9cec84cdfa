//! Touches to the generated schemas that derive attributes cannot express, so each CRD says
//! exactly what upstream v1.14.1's says: required fields that also have defaults, removed
//! formats, enum order, upstream's condition schemas, and the `apiVersion`/`kind`/`metadata`
//! properties controller-gen writes. `tests/upstream_crds.rs` compares the result with
//! upstream's CRDs property by property.

use serde_json::{Value, json};

use crate::patterns;

/// One change at a schema path (`.spec.disruption`, `[]` for items, as the test names paths).
pub(crate) enum Patch {
    /// Set `fact` to a value.
    Set(&'static str, &'static str, fn() -> Value),
    /// Remove `fact`.
    Remove(&'static str, &'static str),
    /// Remove the property `name` of the object at the path.
    DropProperty(&'static str, &'static str),
}

/// The patches of one CRD, by its file name.
pub(crate) fn patches(file: &str) -> Vec<Patch> {
    use Patch::{DropProperty, Remove, Set};
    match file {
        "karpenter.sh_nodepools.yaml" => vec![
            Set(".spec.disruption.budgets[]", "required", || {
                json!(["nodes"])
            }),
            Remove(".spec.template.spec.requirements[].minValues", "format"),
            Set(
                ".spec.template.spec.requirements[].operator",
                "enum",
                operators,
            ),
            Set(".status.conditions", "x-kubernetes-list-type", || {
                json!("map")
            }),
            Set(".status.conditions", "x-kubernetes-list-map-keys", || {
                json!(["type"])
            }),
        ],
        "karpenter.sh_nodeclaims.yaml" => vec![
            Remove(".spec.requirements[].minValues", "format"),
            Set(".spec.requirements[].operator", "enum", operators),
            Set(".status.conditions", "x-kubernetes-list-type", || {
                json!("map")
            }),
            Set(".status.conditions", "x-kubernetes-list-map-keys", || {
                json!(["type"])
            }),
        ],
        "karpenter.k8s.aws_ec2nodeclasses.yaml" => vec![
            Remove(".", "required"),
            Remove(".spec.detailedMonitoring", "default"),
            Remove(".status.amis[].id", "pattern"),
            Remove(".status.amis[].requirements[].key", "maxLength"),
            Remove(".status.amis[].requirements[].key", "pattern"),
            Remove(".status.amis[].requirements[].operator", "enum"),
            Remove(".status.amis[].requirements[].values[]", "maxLength"),
            Remove(".status.amis[].requirements[].values[]", "pattern"),
            // upstream's AMI requirements are core NodeSelectorRequirements: no minValues
            DropProperty(".status.amis[].requirements[]", "minValues"),
            Set(
                ".status.amis[].requirements[].values",
                "x-kubernetes-list-type",
                || json!("atomic"),
            ),
            Set(".status.capacityReservations[]", "required", || {
                json!([
                    "availabilityZone",
                    "id",
                    "instanceMatchCriteria",
                    "instanceType",
                    "ownerID"
                ])
            }),
            Set(
                ".status.capacityReservations[].reservationType",
                "default",
                || json!("default"),
            ),
            Set(".status.capacityReservations[].state", "default", || {
                json!("active")
            }),
            Set(".spec.placementGroupSelector.name", "minLength", || {
                json!(1)
            }),
        ],
        _ => Vec::new(),
    }
}

fn operators() -> Value {
    json!([
        "Gte",
        "Lte",
        "In",
        "NotIn",
        "Exists",
        "DoesNotExist",
        "Gt",
        "Lt"
    ])
}

/// Apply `patches` to a CRD's root schema. A path that does not exist is an error naming it.
pub(crate) fn apply(schema: &mut Value, patches: &[Patch]) -> Result<(), String> {
    for patch in patches {
        let (path, fact) = match patch {
            Patch::Set(p, f, _) | Patch::Remove(p, f) | Patch::DropProperty(p, f) => (*p, *f),
        };
        let node = at(schema, path).ok_or_else(|| path.to_string())?;
        let Some(obj) = node.as_object_mut() else {
            return Err(path.to_string());
        };
        match patch {
            Patch::Set(_, _, value) => {
                obj.insert(fact.to_string(), value());
            }
            Patch::Remove(..) => {
                obj.remove(fact);
            }
            Patch::DropProperty(..) => {
                if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
                    props.remove(fact);
                }
                if let Some(required) = obj.get_mut("required").and_then(Value::as_array_mut) {
                    required.retain(|r| r != fact);
                }
            }
        }
    }
    Ok(())
}

/// The node at a test-style path: `.a.b[]` is `properties.a.properties.b.items`, `{}` is
/// `additionalProperties`.
fn at<'a>(schema: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let mut node = schema;
    let mut rest = path.strip_prefix('.').unwrap_or(path);
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("[]") {
            node = node.get_mut("items")?;
            rest = r;
        } else if let Some(r) = rest.strip_prefix("{}") {
            node = node.get_mut("additionalProperties")?;
            rest = r;
        } else {
            let r = rest.strip_prefix('.').unwrap_or(rest);
            let end = r.find(['.', '[', '{']).unwrap_or(r.len());
            node = node.get_mut("properties")?.get_mut(&r[..end])?;
            rest = &r[end..];
        }
    }
    Some(node)
}

/// What controller-gen writes at the root of every CRD schema, and `title` it does not.
pub(crate) fn root(schema: &mut Value) {
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("title");
        if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert("apiVersion".into(), json!({"type": "string"}));
            props.insert("kind".into(), json!({"type": "string"}));
            props.insert("metadata".into(), json!({"type": "object"}));
        }
    }
}

/// Upstream's condition item schema: NodeClaims use operatorpkg's condition with an optional
/// reason (it may be empty); NodePools and EC2NodeClasses require all five fields.
pub(crate) fn condition_item(reason_optional: bool) -> Value {
    let mut reason = json!({"maxLength": 1024, "type": "string"});
    let required = if reason_optional {
        reason["pattern"] = json!(format!("^({}|)$", inner(patterns::CONDITION_REASON)));
        json!(["lastTransitionTime", "status", "type"])
    } else {
        reason["minLength"] = json!(1);
        reason["pattern"] = json!(patterns::CONDITION_REASON);
        json!(["lastTransitionTime", "message", "reason", "status", "type"])
    };
    json!({
        "properties": {
            "lastTransitionTime": {"format": "date-time", "type": "string"},
            "message": {"maxLength": 32768, "type": "string"},
            "observedGeneration": {"format": "int64", "minimum": 0, "type": "integer"},
            "reason": reason,
            "status": {"enum": ["True", "False", "Unknown"], "type": "string"},
            "type": {"maxLength": 316, "pattern": patterns::CONDITION_TYPE, "type": "string"},
        },
        "required": required,
        "type": "object",
    })
}

/// A pattern without its `^`/`$` anchors.
fn inner(pattern: &str) -> &str {
    let p = pattern.strip_prefix('^').unwrap_or(pattern);
    p.strip_suffix('$').unwrap_or(p)
}

/// Replace `.status.conditions[]` with upstream's item schema.
pub(crate) fn conditions(schema: &mut Value, reason_optional: bool) -> Result<(), String> {
    let path = ".status.conditions[]";
    let node = at(schema, path).ok_or_else(|| path.to_string())?;
    let description = node.get("description").cloned();
    *node = condition_item(reason_optional);
    if let (Some(d), Some(obj)) = (description, node.as_object_mut()) {
        obj.insert("description".into(), d);
    }
    Ok(())
}
