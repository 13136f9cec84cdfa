//! CustomResourceDefinition generation: the kube-derive schemas plus the few touches that
//! derive macros cannot express (per-CRD requirement-key rules, quantity patterns), so the
//! output matches upstream's CRDs.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::{Value, json};

use crate::{EC2NodeClass, NodeClaim, NodePool, cel, patterns, schema_patch};

/// Why CRD generation failed.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// Serialisation of the generated CRD failed.
    #[error("serialising CRD {name}: {source}")]
    Serialize {
        /// The CRD name.
        name: String,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// Rendering YAML failed.
    #[error("rendering CRD {name} as YAML: {source}")]
    Yaml {
        /// The CRD name.
        name: String,
        /// The underlying error.
        source: yaml_serde::Error,
    },
    /// The generated schema lacks a path the post-processing expects.
    #[error("CRD {name}: generated schema has no {path}")]
    MissingPath {
        /// The CRD name.
        name: String,
        /// The schema path.
        path: String,
    },
}

/// One generated CRD: the file name upstream uses and its content.
#[derive(Debug, Clone)]
pub struct GeneratedCrd {
    /// File name, e.g. `karpenter.sh_nodepools.yaml`.
    pub file_name: String,
    /// The CRD as YAML.
    pub yaml: String,
}

/// Every CRD karpenter-rs serves, in upstream's file naming.
pub fn all() -> Result<Vec<GeneratedCrd>, CrdError> {
    let mut out = Vec::new();
    for (crd, key_rules_path, key_rules) in [
        (
            NodePool::crd(),
            Some("spec.template.spec.requirements"),
            cel::NODEPOOL_REQUIREMENT_KEY,
        ),
        (
            NodeClaim::crd(),
            Some("spec.requirements"),
            cel::NODECLAIM_REQUIREMENT_KEY,
        ),
        (EC2NodeClass::crd(), None, &[][..]),
    ] {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let mut value = to_value(&crd, &name)?;
        post_process(&mut value, &name, key_rules_path, key_rules)?;
        let yaml = yaml_serde::to_string(&value).map_err(|source| CrdError::Yaml {
            name: name.clone(),
            source,
        })?;
        let (group, plural) = (&crd.spec.group, &crd.spec.names.plural);
        out.push(GeneratedCrd {
            file_name: format!("{group}_{plural}.yaml"),
            yaml,
        });
    }
    Ok(out)
}

/// All CRDs as one multi-document YAML stream.
pub fn all_yaml() -> Result<String, CrdError> {
    let docs = all()?;
    Ok(docs
        .iter()
        .map(|d| format!("---\n{}", d.yaml))
        .collect::<Vec<_>>()
        .join(""))
}

fn to_value(crd: &CustomResourceDefinition, name: &str) -> Result<Value, CrdError> {
    serde_json::to_value(crd).map_err(|source| CrdError::Serialize {
        name: name.to_string(),
        source,
    })
}

fn post_process(
    crd: &mut Value,
    name: &str,
    key_rules_path: Option<&str>,
    key_rules: &[cel::Rule],
) -> Result<(), CrdError> {
    let Some(schema) = crd.pointer_mut("/spec/versions/0/schema/openAPIV3Schema") else {
        return Err(CrdError::MissingPath {
            name: name.into(),
            path: "spec.versions[0].schema.openAPIV3Schema".into(),
        });
    };
    tidy(schema);
    let list_kind = crd
        .pointer("/spec/names/kind")
        .and_then(Value::as_str)
        .map(|kind| format!("{kind}List"));
    if let (Some(list_kind), Some(names)) = (
        list_kind,
        crd.pointer_mut("/spec/names")
            .and_then(Value::as_object_mut),
    ) {
        names.insert("listKind".into(), json!(list_kind));
    }
    let Some(schema) = crd.pointer_mut("/spec/versions/0/schema/openAPIV3Schema") else {
        return Err(CrdError::MissingPath {
            name: name.into(),
            path: "spec.versions[0].schema.openAPIV3Schema".into(),
        });
    };
    schema_patch::root(schema);
    let file = crd
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .zip(crd.pointer("/spec/group").and_then(Value::as_str))
        .map(|(plural, group)| format!("{group}_{plural}.yaml"))
        .unwrap_or_default();
    let Some(schema) = crd.pointer_mut("/spec/versions/0/schema/openAPIV3Schema") else {
        return Err(CrdError::MissingPath {
            name: name.into(),
            path: "spec.versions[0].schema.openAPIV3Schema".into(),
        });
    };
    let missing = |path: String| CrdError::MissingPath {
        name: name.into(),
        path,
    };
    schema_patch::conditions(schema, file == "karpenter.sh_nodeclaims.yaml").map_err(missing)?;
    schema_patch::apply(schema, &schema_patch::patches(&file)).map_err(missing)?;
    if let Some(path) = key_rules_path {
        let mut node = &mut *schema;
        for segment in path.split('.') {
            node = node
                .get_mut("properties")
                .and_then(|p| p.get_mut(segment))
                .ok_or_else(|| CrdError::MissingPath {
                    name: name.into(),
                    path: path.into(),
                })?;
        }
        let key = node
            .pointer_mut("/items/properties/key")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| CrdError::MissingPath {
                name: name.into(),
                path: format!("{path}.items.key"),
            })?;
        key.insert("x-kubernetes-validations".into(), cel::rules(key_rules));
    }
    Ok(())
}

/// Recursively drop what upstream's CRDs do not carry (`nullable`) and give every quantity
/// upstream's int-or-string pattern.
fn tidy(node: &mut Value) {
    match node {
        Value::Object(map) => {
            map.remove("nullable");
            if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
                // k8s-openapi's Quantity carries a page of Go documentation; upstream's CRDs
                // carry only the pattern.
                map.remove("description");
                if !map.contains_key("pattern") {
                    map.insert("pattern".into(), json!(patterns::QUANTITY));
                }
                if !map.contains_key("anyOf") {
                    map.insert(
                        "anyOf".into(),
                        json!([{"type": "integer"}, {"type": "string"}]),
                    );
                }
            }
            for bound in ["minimum", "maximum"] {
                // schemars writes bounds as floats (`0.0`); upstream writes integers.
                if let Some(f) = map.get(bound).and_then(Value::as_f64)
                    && f.fract() == 0.0
                    && f.abs() < 9.0e15
                {
                    map.insert(bound.into(), json!(f as i64));
                }
            }
            for v in map.values_mut() {
                tidy(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// Schema transform for `volumeSize`: a string with upstream's size pattern.
pub(crate) fn volume_size_schema(schema: &mut schemars::Schema) {
    // upstream types volumeSize as a string with its size pattern (no int-or-string)
    let obj = schema.ensure_object();
    for k in ["x-kubernetes-int-or-string", "anyOf", "$ref", "allOf"] {
        obj.remove(k);
    }
    obj.insert("type".into(), json!("string"));
    obj.insert("pattern".into(), json!(patterns::VOLUME_SIZE));
}

/// Schema transform for label maps: values are label values (at most 63 characters).
pub(crate) fn label_values_schema(schema: &mut schemars::Schema) {
    let obj = schema.ensure_object();
    obj.insert(
        "additionalProperties".into(),
        json!({"type": "string", "maxLength": 63, "pattern": patterns::LABEL_VALUE}),
    );
}

/// Schema transform for kubeReserved/systemReserved: values are quantities.
pub(crate) fn reserved_values_schema(schema: &mut schemars::Schema) {
    string_values(schema, patterns::QUANTITY);
}

/// Schema transform for evictionHard/evictionSoft: values are percentages or quantities.
pub(crate) fn eviction_values_schema(schema: &mut schemars::Schema) {
    string_values(schema, patterns::EVICTION_VALUE);
}

fn string_values(schema: &mut schemars::Schema, pattern: &str) {
    schema.ensure_object().insert(
        "additionalProperties".into(),
        json!({"type": "string", "pattern": pattern}),
    );
}
