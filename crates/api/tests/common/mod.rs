//! Helpers for validation tests: a valid base object, a JSON patch, the resulting errors.
#![allow(dead_code)] // each test binary uses a subset of these helpers

use karpenter_api::validate::Validate;
use serde_json::Value;

/// Parse `base` (YAML), let `patch` change it, and return the validation errors as text.
pub fn errors_after<T>(base: &str, patch: impl FnOnce(&mut Value)) -> Vec<String>
where
    T: serde::de::DeserializeOwned + Validate,
{
    let mut v: Value = match yaml_serde::from_str(base) {
        Ok(v) => v,
        Err(e) => panic!("base is not YAML: {e}"),
    };
    patch(&mut v);
    let typed: T = match serde_json::from_value(v) {
        Ok(t) => t,
        Err(e) => panic!("patched object does not parse: {e}"),
    };
    typed.validate().iter().map(ToString::to_string).collect()
}

/// Set the value at a JSON pointer, creating objects on the way.
pub fn set(v: &mut Value, pointer: &str, value: Value) {
    let mut node = v;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        node = match node {
            Value::Array(a) => {
                let idx: usize = part.parse().unwrap_or(0);
                if last {
                    if idx < a.len() {
                        a[idx] = value;
                    } else {
                        a.push(value);
                    }
                    return;
                }
                &mut a[idx]
            }
            _ => {
                if !node.is_object() {
                    *node = Value::Object(Default::default());
                }
                let Some(map) = node.as_object_mut() else {
                    return;
                };
                if last {
                    map.insert(part.to_string(), value);
                    return;
                }
                map.entry(part.to_string())
                    .or_insert(Value::Object(Default::default()))
            }
        };
    }
}

/// Remove the value at a JSON pointer.
pub fn remove(v: &mut Value, pointer: &str) {
    let (parent, key) = match pointer.rsplit_once('/') {
        Some(pk) => pk,
        None => return,
    };
    if let Some(Value::Object(m)) = v.pointer_mut(parent) {
        m.remove(key);
    }
}

/// Assert exactly one error, containing every fragment.
pub fn assert_one(errors: &[String], fragments: &[&str]) {
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    for f in fragments {
        assert!(errors[0].contains(f), "{:?} lacks {f:?}", errors[0]);
    }
}
