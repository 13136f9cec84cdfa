//! Our generated CRDs against upstream v1.14.1's, property by property.
//!
//! `fixtures/upstream-crds-v1.14.1.json` lists, for each of upstream's CRDs
//! (`pkg/apis/crds/*.yaml` at the v1.14.1 tag of the AWS provider), the names, scope,
//! subresources, print columns and, for every schema path, its constraints (type, format,
//! pattern, enum, bounds, required, defaults, list and map markers, CEL rules); descriptions
//! are left out. Every difference from it must be listed in `INTENDED` with its reason.

use std::collections::BTreeMap;

use karpenter_api::crds;
use serde_json::{Map, Value};

/// Every intended difference: (CRD file, schema path or section, fact, reason).
const INTENDED: &[(&str, &str, &str, &str)] = &[
    (
        "karpenter.sh_nodepools.yaml",
        ".spec.template.spec.requirements[].values[]",
        "*",
        "upstream's kubebuilder markers put maxLength 63 and the label-value pattern on the \
         `values` array, where an API server ignores them; we put them on each value, where \
         they check something (every value upstream's runtime validation accepts passes)",
    ),
    (
        "karpenter.sh_nodepools.yaml",
        ".spec.template.spec.requirements[].values",
        "*",
        "see values[]: the label-value constraints sit on the items",
    ),
    (
        "karpenter.sh_nodeclaims.yaml",
        ".spec.requirements[].values[]",
        "*",
        "as for NodePool requirement values",
    ),
    (
        "karpenter.sh_nodeclaims.yaml",
        ".spec.requirements[].values",
        "*",
        "as for NodePool requirement values",
    ),
];

fn facts_of(schema: &Value, path: &str, out: &mut BTreeMap<String, Map<String, Value>>) {
    let Some(obj) = schema.as_object() else {
        return;
    };
    let facts: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "properties" | "items" | "additionalProperties" | "description"
            )
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let key = if path.is_empty() { "." } else { path };
    out.insert(key.to_string(), facts);
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            facts_of(sub, &format!("{path}.{name}"), out);
        }
    }
    if let Some(items) = obj.get("items").filter(|i| i.is_object()) {
        facts_of(items, &format!("{path}[]"), out);
    }
    if let Some(ap) = obj.get("additionalProperties").filter(|i| i.is_object()) {
        facts_of(ap, &format!("{path}{{}}"), out);
    }
}

/// Our CRD in the fixture's shape.
fn ours(yaml: &str) -> Value {
    let crd: Value = match yaml_serde::from_str(yaml) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    let version = &crd["spec"]["versions"][0];
    let mut props = BTreeMap::new();
    facts_of(&version["schema"]["openAPIV3Schema"], "", &mut props);
    let columns: Vec<Value> = version["additionalPrinterColumns"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut c| {
            if let Some(o) = c.as_object_mut() {
                o.remove("description");
            }
            c
        })
        .collect();
    serde_json::json!({
        "group": crd["spec"]["group"],
        "names": crd["spec"]["names"],
        "scope": crd["spec"]["scope"],
        "version": version["name"],
        "served": version["served"],
        "storage": version["storage"],
        "subresources": version["subresources"],
        "printerColumns": columns,
        "properties": props,
    })
}

fn intended(file: &str, path: &str, fact: &str) -> bool {
    INTENDED
        .iter()
        .any(|(f, p, x, _)| *f == file && *p == path && (*x == "*" || *x == fact))
}

#[test]
fn generated_crds_match_upstream_v1_14_1_except_where_listed() {
    let text = include_str!("fixtures/upstream-crds-v1.14.1.json");
    let upstream: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => panic!("fixture: {e}"),
    };
    let generated = match crds::all() {
        Ok(g) => g,
        Err(e) => panic!("{e}"),
    };
    let mut problems = Vec::new();
    let mut used = vec![false; INTENDED.len()];
    for crd in &generated {
        let file = crd.file_name.as_str();
        let Some(up) = upstream.get(file) else {
            problems.push(format!("{file}: upstream has no such CRD"));
            continue;
        };
        let ours = ours(&crd.yaml);
        for section in [
            "group",
            "names",
            "scope",
            "version",
            "served",
            "storage",
            "subresources",
            "printerColumns",
        ] {
            if ours[section] != up[section] {
                problems.push(format!(
                    "{file} {section}: ours {} upstream {}",
                    ours[section], up[section]
                ));
            }
        }
        let empty = Map::new();
        let (o, u) = (
            ours["properties"].as_object().unwrap_or(&empty),
            up["properties"].as_object().unwrap_or(&empty),
        );
        let paths: std::collections::BTreeSet<&String> = o.keys().chain(u.keys()).collect();
        for path in paths {
            let (of, uf) = (
                o.get(path).and_then(Value::as_object),
                u.get(path).and_then(Value::as_object),
            );
            let facts: std::collections::BTreeSet<&String> =
                of.into_iter().chain(uf).flat_map(|m| m.keys()).collect();
            let mut report = |fact: &str, what: String| {
                if let Some(i) = INTENDED
                    .iter()
                    .position(|(f, p, x, _)| *f == file && p == path && (*x == "*" || *x == fact))
                {
                    used[i] = true;
                } else {
                    problems.push(what);
                }
            };
            match (of, uf) {
                (None, Some(_)) => report("*", format!("{file} {path}: only upstream has it")),
                (Some(_), None) => report("*", format!("{file} {path}: only ours has it")),
                _ => {
                    for fact in facts {
                        let (a, b) = (of.and_then(|m| m.get(fact)), uf.and_then(|m| m.get(fact)));
                        if a != b {
                            report(
                                fact,
                                format!(
                                    "{file} {path} {fact}: ours {} upstream {}",
                                    a.map(Value::to_string).unwrap_or("-".into()),
                                    b.map(Value::to_string).unwrap_or("-".into())
                                ),
                            );
                        }
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} difference(s) from upstream v1.14.1 not listed as intended:\n{}",
        problems.len(),
        problems.join("\n")
    );
    let stale: Vec<_> = INTENDED
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|((f, p, x, _), _)| format!("{f} {p} {x}"))
        .collect();
    assert!(
        stale.is_empty(),
        "listed as intended but no longer different: {stale:?}"
    );
    assert!(intended(
        "karpenter.sh_nodepools.yaml",
        ".spec.template.spec.requirements[].values[]",
        "pattern"
    ));
}
