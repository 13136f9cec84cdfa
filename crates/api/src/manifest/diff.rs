//! Finds fields of the input that the typed object did not keep: any key present (and not
//! null or empty) in the input but absent after a round trip through the type.

use serde_json::Value;

/// Paths (`spec.template.foo`, `spec.items[2].bar`) of input fields the output lacks.
pub(crate) fn dropped_fields(input: &Value, output: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(input, output, String::new(), &mut out);
    out
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn walk(input: &Value, output: &Value, path: String, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (key, iv) in i {
                let p = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match o.get(key) {
                    Some(ov) => walk(iv, ov, p, out),
                    None if is_empty(iv) => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (idx, (iv, ov)) in i.iter().zip(o.iter()).enumerate() {
                walk(iv, ov, format!("{path}[{idx}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_only_fields_the_output_lost() {
        let input =
            json!({"a": 1, "b": {"c": 2, "typo": 3}, "n": null, "e": [], "l": [{"x": 1, "y": 2}]});
        let output = json!({"a": 1, "b": {"c": 2}, "l": [{"x": 1}]});
        assert_eq!(
            dropped_fields(&input, &output),
            vec!["b.typo".to_string(), "l[0].y".to_string()]
        );
    }
}
