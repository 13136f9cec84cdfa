//! Reading files and directories, splitting them into documents and items.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::{LoadErrors, Manifest, ManifestError, Object, Source};

/// File endings read when walking a directory (named files are read whatever their ending).
const MANIFEST_ENDINGS: &[&str] = &[".yaml", ".yml", ".json", ".yaml.gz", ".yml.gz", ".json.gz"];

/// Load every object of the given files and directories (recursively, in name order).
///
/// All problems of all files are collected; on any problem nothing is returned.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<Manifest>, LoadErrors> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        collect_files(path, true, &mut files, &mut errors);
    }
    let mut manifests = Vec::new();
    for file in files {
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(source) => {
                errors.push(ManifestError::Io { path: file, source });
                continue;
            }
        };
        match parse_bytes(&file, &bytes) {
            Ok(mut m) => manifests.append(&mut m),
            Err(LoadErrors(mut e)) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(manifests)
    } else {
        Err(LoadErrors(errors))
    }
}

fn collect_files(
    path: &Path,
    named: bool,
    files: &mut Vec<PathBuf>,
    errors: &mut Vec<ManifestError>,
) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(source) => {
            errors.push(ManifestError::Io {
                path: path.to_path_buf(),
                source,
            });
            return;
        }
    };
    if !meta.is_dir() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if named || MANIFEST_ENDINGS.iter().any(|e| name.ends_with(e)) {
            files.push(path.to_path_buf());
        }
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(rd) => rd.collect::<Result<Vec<_>, _>>(),
        Err(e) => Err(e),
    };
    match entries {
        Ok(entries) => {
            let mut children: Vec<PathBuf> = entries.into_iter().map(|e| e.path()).collect();
            children.sort();
            for child in children {
                collect_files(&child, false, files, errors);
            }
        }
        Err(source) => errors.push(ManifestError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Parse the content of one file (gzip-compressed or not), named `file` in errors.
pub fn parse_bytes(file: &Path, bytes: &[u8]) -> Result<Vec<Manifest>, LoadErrors> {
    let at = |document| Source {
        file: file.to_path_buf(),
        document,
        item: None,
    };
    let mut inflated = Vec::new();
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut decoder = flate2::read::GzDecoder::new(bytes);
        if let Err(source) = decoder.read_to_end(&mut inflated) {
            return Err(LoadErrors(vec![ManifestError::Io {
                path: file.to_path_buf(),
                source,
            }]));
        }
        &inflated[..]
    } else {
        bytes
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return Err(LoadErrors(vec![ManifestError::Syntax {
                location: at(0),
                format: "UTF-8",
                message: e.to_string(),
            }]));
        }
    };
    let documents = split_documents(text).map_err(|(document, format, message)| {
        LoadErrors(vec![ManifestError::Syntax {
            location: at(document),
            format,
            message,
        }])
    })?;
    let mut manifests = Vec::new();
    let mut errors = Vec::new();
    for (document, value) in documents.into_iter().enumerate() {
        expand(value, at(document), &mut manifests, &mut errors);
    }
    if errors.is_empty() {
        Ok(manifests)
    } else {
        Err(LoadErrors(errors))
    }
}

/// JSON (one value) when the text starts with `{` or `[`, otherwise a YAML stream.
fn split_documents(text: &str) -> Result<Vec<Value>, (usize, &'static str, String)> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return serde_json::from_str(trimmed)
            .map(|v| vec![v])
            .map_err(|e| (0, "JSON", e.to_string()));
    }
    let mut docs = Vec::new();
    for (i, doc) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let v = Value::deserialize(doc).map_err(|e| (i, "YAML", e.to_string()))?;
        docs.push(v);
    }
    Ok(docs)
}

/// Turn one document into objects: arrays and `List`s give their items. Items of a typed
/// list (`PodList`) without type fields are of the list's kind, as the API server returns them.
fn expand(
    value: Value,
    location: Source,
    out: &mut Vec<Manifest>,
    errors: &mut Vec<ManifestError>,
) {
    let mut inherited = None;
    let items = match value {
        Value::Null => return, // an empty document
        Value::Array(items) => items,
        Value::Object(ref map)
            if map
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && map.get("items").is_some_and(Value::is_array) =>
        {
            let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
            let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
            let api_version = map.get("apiVersion").and_then(Value::as_str);
            inherited = item_kind
                .zip(api_version)
                .map(|(k, a)| (a.to_string(), k.to_string()));
            match value {
                Value::Object(mut map) => match map.remove("items") {
                    Some(Value::Array(items)) => items,
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            }
        }
        Value::Object(_) => {
            one(value, location, None, out, errors);
            return;
        }
        other => {
            errors.push(ManifestError::NotAnObject {
                location,
                found: type_name(&other),
            });
            return;
        }
    };
    for (i, item) in items.into_iter().enumerate() {
        let loc = Source {
            item: Some(i),
            ..location.clone()
        };
        match item {
            Value::Object(_) => one(item, loc, inherited.as_ref(), out, errors),
            other => errors.push(ManifestError::NotAnObject {
                location: loc,
                found: type_name(&other),
            }),
        }
    }
}

/// Type one object. Without `apiVersion` and `kind` it takes the enclosing list's type, or is
/// read as a Pod when it has `spec.containers` (upstream's benchmark dumps pods that way).
fn one(
    value: Value,
    location: Source,
    inherited: Option<&(String, String)>,
    out: &mut Vec<Manifest>,
    errors: &mut Vec<ManifestError>,
) {
    let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_string);
    let (mut api_version, mut kind) = (field("apiVersion"), field("kind"));
    if api_version.is_none() && kind.is_none() {
        if let Some((a, k)) = inherited {
            (api_version, kind) = (Some(a.clone()), Some(k.clone()));
        } else if value
            .pointer("/spec/containers")
            .is_some_and(Value::is_array)
        {
            (api_version, kind) = (Some("v1".into()), Some("Pod".into()));
        }
    }
    let Some(api_version) = api_version else {
        errors.push(ManifestError::MissingTypeField {
            location,
            field: "apiVersion",
        });
        return;
    };
    let Some(kind) = kind else {
        errors.push(ManifestError::MissingTypeField {
            location,
            field: "kind",
        });
        return;
    };
    match Object::from_value(&location, &api_version, &kind, value) {
        Ok(object) => out.push(Manifest {
            source: location,
            object,
        }),
        Err(mut e) => errors.append(&mut e),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
