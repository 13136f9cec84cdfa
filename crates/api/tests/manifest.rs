//! Manifest loading: every input shape, and every failure named by file and document.

use std::io::Write;
use std::path::{Path, PathBuf};

use karpenter_api::manifest::{
    LoadErrors, Manifest, ManifestError, Object, load_paths, parse_bytes,
};

const NODEPOOL: &str = "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: np}\nspec:\n  template:\n    spec:\n      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}\n      requirements: []\n";
const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec:\n  containers: [{name: c, image: pause, resources: {requests: {cpu: 100m}}}]\n";

fn parse(text: &str) -> Result<Vec<Manifest>, LoadErrors> {
    parse_bytes(Path::new("test.yaml"), text.as_bytes())
}

fn ok(text: &str) -> Vec<Manifest> {
    match parse(text) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    }
}

fn err(text: &str) -> Vec<ManifestError> {
    match parse(text) {
        Ok(m) => panic!("expected an error, loaded {} objects", m.len()),
        Err(e) => e.0,
    }
}

fn kinds(m: &[Manifest]) -> Vec<&'static str> {
    m.iter().map(|m| m.object.kind()).collect()
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("karpenter-rs-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("{e}");
    }
    dir
}

#[test]
fn multi_document_yaml_keeps_document_indices() {
    let text = format!("---\n{NODEPOOL}---\n# only a comment\n---\n{POD}");
    let m = ok(&text);
    assert_eq!(kinds(&m), ["NodePool", "Pod"]);
    assert_eq!(m[0].source.document, 0);
    assert_eq!(m[1].source.document, 2);
    assert_eq!(m[1].object.name(), "p");
    assert_eq!(m[1].object.namespace(), Some("default"));
}

#[test]
fn json_objects_arrays_and_lists() {
    let single = r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}"#;
    assert_eq!(kinds(&ok(single)), ["Namespace"]);
    let array = format!("[{single}, {single}]");
    let m = ok(&array);
    assert_eq!(m.len(), 2);
    assert_eq!(m[1].source.item, Some(1));
    let list = format!(r#"{{"apiVersion": "v1", "kind": "List", "items": [{single}]}}"#);
    assert_eq!(kinds(&ok(&list)), ["Namespace"]);
    // a typed list's items carry no type fields, as the API server returns them
    let pod_list = r#"{"apiVersion": "v1", "kind": "PodList", "items": [{"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c"}]}}]}"#;
    assert_eq!(kinds(&ok(pod_list)), ["Pod"]);
}

#[test]
fn yaml_list_kind() {
    let text = format!(
        "apiVersion: v1\nkind: List\nitems:\n- {}\n",
        POD.replace('\n', "\n  ").trim_end()
    );
    let m = ok(&text);
    assert_eq!(kinds(&m), ["Pod"]);
    assert_eq!(m[0].source.item, Some(0));
}

#[test]
fn every_supported_standard_kind_loads() {
    let docs = [
        "apiVersion: v1\nkind: Node\nmetadata: {name: n, labels: {kubernetes.io/arch: amd64}}\nspec: {taints: [{key: a, effect: NoSchedule}]}\nstatus: {allocatable: {cpu: '4', memory: 16Gi, pods: '110'}}",
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: ds, namespace: kube-system}\nspec:\n  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c}]}}",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 3\n  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c}]}}",
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: pdb}\nspec: {minAvailable: 1, selector: {matchLabels: {a: b}}}",
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv}\nspec: {capacity: {storage: 10Gi}, accessModes: [ReadWriteOnce], csi: {driver: ebs.csi.aws.com, volumeHandle: vol-1}}",
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: pvc}\nspec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 10Gi}}}",
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: gp3}\nprovisioner: ebs.csi.aws.com\nvolumeBindingMode: WaitForFirstConsumer",
        "apiVersion: storage.k8s.io/v1\nkind: CSINode\nmetadata: {name: n}\nspec: {drivers: [{name: ebs.csi.aws.com, nodeID: i-1, allocatable: {count: 25}}]}",
        "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: kata}\nhandler: kata\noverhead: {podFixed: {cpu: 250m}}",
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000",
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: c}]}}}",
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\nspec:\n  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c}]}}",
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: rs}\nspec:\n  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c}]}}",
    ];
    let m = ok(&docs.join("\n---\n"));
    assert_eq!(
        kinds(&m),
        [
            "Node",
            "DaemonSet",
            "Deployment",
            "PodDisruptionBudget",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "StorageClass",
            "CSINode",
            "RuntimeClass",
            "PriorityClass",
            "Job",
            "StatefulSet",
            "ReplicaSet"
        ]
    );
    assert!(
        matches!(&m[0].object, Object::Node(n) if n.spec.as_ref().and_then(|s| s.taints.as_ref()).is_some_and(|t| t.len() == 1))
    );
}

#[test]
fn an_unknown_kind_of_karpenters_groups_names_file_document_and_kind() {
    let e = err(&format!(
        "{POD}---\napiVersion: karpenter.sh/v1\nkind: NodePol\nmetadata: {{name: w}}\n"
    ));
    assert_eq!(e.len(), 1);
    let msg = e[0].to_string();
    assert!(
        msg.starts_with("test.yaml: document 1: unknown kind \"NodePol\""),
        "{msg}"
    );
    assert!(msg.contains("supported kinds"), "{msg}");
}

#[test]
fn other_kinds_are_skipped_with_a_note_and_node_overlay_is_recognised() {
    let text = format!(
        "{POD}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: web}}\ndata: {{a: b}}\n\
         ---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: widgets.example.com}}\n\
         ---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n\
         ---\napiVersion: karpenter.sh/v1alpha1\nkind: NodeOverlay\nmetadata: {{name: discount}}\nspec: {{priceAdjustment: \"-10%\"}}\n"
    );
    let ms = match parse_bytes(Path::new("test.yaml"), text.as_bytes()) {
        Ok(m) => m,
        Err(e) => panic!("other kinds must load: {e}"),
    };
    assert_eq!(ms.len(), 5);
    assert_eq!(ms[0].object.kind(), "Pod");
    let notes = karpenter_api::manifest::skipped_notes(&ms);
    assert_eq!(notes.len(), 4, "{notes:?}");
    assert!(
        notes[0].starts_with("test.yaml: document 1: ConfigMap \"settings\": skipped"),
        "{}",
        notes[0]
    );
    assert_eq!(ms[1].object.namespace(), Some("web"));
    assert!(notes[1].contains("CustomResourceDefinition \"widgets.example.com\""));
    assert!(notes[2].contains("Kustomization \"\""), "{}", notes[2]);
    assert!(
        notes[3].contains("NodeOverlay \"discount\": NodeOverlay recognised but not applied"),
        "{}",
        notes[3]
    );
}

#[test]
fn wrong_api_version_is_refused() {
    let e = err(&NODEPOOL.replace("karpenter.sh/v1", "karpenter.sh/v1beta1"));
    let msg = e[0].to_string();
    assert!(msg.contains("NodePool \"np\": apiVersion \"karpenter.sh/v1beta1\" is not supported, use \"karpenter.sh/v1\""), "{msg}");
}

#[test]
fn syntax_errors_name_the_document() {
    let e = err(&format!("{POD}---\nkind: [unclosed\n"));
    let msg = e[0].to_string();
    assert!(
        msg.starts_with("test.yaml: document 1: not valid YAML"),
        "{msg}"
    );
    let e = err("{\"apiVersion\": ");
    assert!(e[0].to_string().contains("not valid JSON"), "{}", e[0]);
}

#[test]
fn wrong_field_types_name_the_field_path() {
    let e = err(&NODEPOOL.replace(
        "requirements: []",
        "requirements:\n      - {key: a, operator: Near}",
    ));
    let msg = e[0].to_string();
    assert!(
        msg.contains(
            "NodePool \"np\": spec.template.spec.requirements[0].operator: unknown variant `Near`"
        ),
        "{msg}"
    );
    let e = err(&NODEPOOL.replace("      requirements: []\n", ""));
    assert!(
        e[0].to_string().contains("missing field `requirements`"),
        "{}",
        e[0]
    );
}

#[test]
fn unknown_fields_are_errors_not_losses() {
    let e = err(&NODEPOOL.replace(
        "requirements: []",
        "requirements: []\n      expiresAfter: 24h",
    ));
    assert_eq!(e.len(), 1);
    assert!(
        e[0].to_string()
            .contains("NodePool \"np\": spec.template.spec.expiresAfter: unknown field"),
        "{}",
        e[0]
    );
    let e = err(&POD.replace("containers:", "nodeSelectr: {a: b}\n  containers:"));
    assert!(
        e[0].to_string()
            .contains("Pod \"p\": spec.nodeSelectr: unknown field"),
        "{}",
        e[0]
    );
}

#[test]
fn missing_type_fields_and_non_objects() {
    let e = err("metadata: {name: x}\n");
    assert!(
        e[0].to_string().contains("object has no apiVersion"),
        "{}",
        e[0]
    );
    let e = err("apiVersion: v1\nmetadata: {name: x}\n");
    assert!(e[0].to_string().contains("object has no kind"), "{}", e[0]);
    let e = err("just a string\n");
    assert!(
        e[0].to_string()
            .contains("expected a Kubernetes object, found a string"),
        "{}",
        e[0]
    );
}

#[test]
fn all_problems_are_collected() {
    let e = err(
        "apiVersion: karpenter.sh/v1\nkind: Widget\n---\napiVersion: karpenter.k8s.aws/v1\nkind: Gadget\n",
    );
    assert_eq!(e.len(), 2);
}

#[test]
fn directories_gzip_and_ordering() {
    let dir = tempdir("dir");
    let write = |name: &str, bytes: &[u8]| {
        if let Err(e) = std::fs::write(dir.join(name), bytes) {
            panic!("{e}");
        }
    };
    write("b-pod.yaml", POD.as_bytes());
    write("a-pool.yml", NODEPOOL.as_bytes());
    write("README.md", b"not a manifest");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let ns = br#"[{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}]"#;
    if let Err(e) = gz.write_all(ns) {
        panic!("{e}");
    }
    write("c-ns.json.gz", &gz.finish().unwrap_or_default());
    let sub = dir.join("sub");
    let _ = std::fs::create_dir_all(&sub);
    if let Err(e) = std::fs::write(sub.join("pod.json"), br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"q"},"spec":{"containers":[{"name":"c"}]}}"#) {
        panic!("{e}");
    }
    let m = match load_paths(std::slice::from_ref(&dir)) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(kinds(&m), ["NodePool", "Pod", "Namespace", "Pod"]);
    assert!(m[2].source.file.ends_with("c-ns.json.gz"));
    // a file named on the command line is read whatever its ending
    let e = match load_paths(&[dir.join("README.md")]) {
        Ok(_) => panic!("README.md is not a manifest"),
        Err(e) => e,
    };
    assert!(e.to_string().contains("README.md"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_paths_are_io_errors() {
    let e = match load_paths(&[PathBuf::from("/nonexistent/karpenter-rs/manifests")]) {
        Ok(_) => panic!("must fail"),
        Err(e) => e,
    };
    assert!(matches!(e.0[0], ManifestError::Io { .. }));
    assert!(
        e.to_string()
            .contains("/nonexistent/karpenter-rs/manifests")
    );
}

#[test]
fn upstream_benchmark_pods_load() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/bench/pods_diverse_50.json.gz");
    let m = match load_paths(&[path]) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(m.len(), 50);
    assert!(m.iter().all(|m| m.object.kind() == "Pod"));
}
