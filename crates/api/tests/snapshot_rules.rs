//! Upstream's rules for what existing capacity offers and which pods are planned, read
//! from manifests: a managed node still joining offers its capacity without its known
//! ephemeral taints and its NodeClaim's startup taints; the pods of a node being deleted are
//! planned again only when they can be evicted (no fully blocking PodDisruptionBudget, not
//! two budgets, no active `karpenter.sh/do-not-disrupt`).

use std::path::Path;

use karpenter_api::manifest;
use karpenter_api::snapshot::{self, Cluster};
use karpenter_model::time::parse_rfc3339;
use karpenter_model::{Effect, InstanceType};
use karpenter_scheduling::Input;

const NODEPOOL: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]
"#;

/// A managed Node `name` with `taints` (YAML flow list), initialized or not.
fn node(name: &str, initialized: bool, taints: &str, deleting: bool) -> String {
    let init = if initialized {
        "\n    karpenter.sh/initialized: \"true\""
    } else {
        ""
    };
    let deletion = if deleting {
        "\n  deletionTimestamp: \"2026-12-01T00:00:00Z\"\n  finalizers: [karpenter.sh/termination]"
    } else {
        ""
    };
    format!(
        r#"
apiVersion: v1
kind: Node
metadata:
  name: {name}{deletion}
  labels:
    karpenter.sh/nodepool: default
    kubernetes.io/arch: amd64
    node.kubernetes.io/instance-type: m5.large
    topology.kubernetes.io/zone: us-east-1a
    karpenter.sh/capacity-type: on-demand{init}
spec:
  providerID: aws:///us-east-1a/i-{name}
  taints: {taints}
status:
  allocatable: {{cpu: "2", memory: 7Gi, pods: "29"}}
  capacity: {{cpu: "2", memory: 8Gi, pods: "29"}}
"#
    )
}

/// The NodeClaim registered as `node`, with `startup` taints (YAML flow list).
fn claim(node: &str, startup: &str) -> String {
    format!(
        r#"
apiVersion: karpenter.sh/v1
kind: NodeClaim
metadata:
  name: {node}
  labels: {{karpenter.sh/nodepool: default}}
spec:
  nodeClassRef: {{group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}}
  requirements: [{{key: node.kubernetes.io/instance-type, operator: In, values: [m5.large]}}]
  startupTaints: {startup}
status:
  providerID: aws:///us-east-1a/i-{node}
  nodeName: {node}
"#
    )
}

/// A pod `name` of app `app` bound to `node`, with extra annotations (YAML flow map).
fn pod(name: &str, app: &str, node: &str, annotations: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: default
  labels: {{app: {app}}}
  annotations: {annotations}
  ownerReferences: [{{apiVersion: apps/v1, kind: ReplicaSet, name: {app}, uid: u-{app}, controller: true}}]
spec:
  nodeName: {node}
  containers: [{{name: c, image: x, resources: {{requests: {{cpu: 100m, memory: 100Mi}}}}}}]
status:
  phase: Running
  startTime: "2026-12-01T11:00:00Z"
"#
    )
}

fn pdb(name: &str, app: &str, rule: &str) -> String {
    format!(
        r#"
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: {name}, namespace: default}}
spec:
  {rule}
  selector: {{matchLabels: {{app: {app}}}}}
"#
    )
}

fn catalog() -> Vec<InstanceType> {
    match karpenter_catalog::load(
        "builtin:aws/us-east-1",
        &karpenter_catalog::AwsSettings::default(),
    ) {
        Ok(c) => c,
        Err(e) => panic!("catalog: {e}"),
    }
}

fn input(docs: &[String], now: Option<&str>) -> Input {
    let text = docs.join("\n---\n");
    let ms = match manifest::parse_bytes(Path::new("test.yaml"), text.as_bytes()) {
        Ok(m) => m,
        Err(e) => panic!("manifests: {e:?}"),
    };
    let cluster = match Cluster::new(ms.iter().map(|m| &m.object)) {
        Ok(c) => Cluster {
            now: now.and_then(parse_rfc3339),
            ..c
        },
        Err(e) => panic!("cluster: {e:?}"),
    };
    match snapshot::scheduling_input(&cluster, catalog(), Default::default()) {
        Ok(i) => i,
        Err(e) => panic!("input: {e:?}"),
    }
}

fn taints_of(i: &Input, node: &str) -> Vec<(String, Effect)> {
    let n = i.existing.iter().find(|n| n.name == node);
    let n = n.unwrap_or_else(|| panic!("no existing node {node}"));
    n.taints.iter().map(|t| (t.key.clone(), t.effect)).collect()
}

const JOINING_TAINTS: &str = "[{key: node.kubernetes.io/not-ready, effect: NoSchedule}, \
    {key: node.kubernetes.io/not-ready, effect: NoExecute}, \
    {key: node.kubernetes.io/unreachable, effect: NoSchedule}, \
    {key: node.cloudprovider.kubernetes.io/uninitialized, value: \"true\", effect: NoSchedule}, \
    {key: karpenter.sh/unregistered, effect: NoExecute}, \
    {key: example.com/agent-not-ready, effect: NoSchedule}, \
    {key: dedicated, value: gpu, effect: NoSchedule}]";

#[test]
fn a_joining_node_offers_its_capacity_without_ephemeral_and_startup_taints() {
    let i = input(
        &[
            NODEPOOL.to_string(),
            node("joining", false, JOINING_TAINTS, false),
            claim(
                "joining",
                "[{key: example.com/agent-not-ready, effect: NoSchedule}]",
            ),
        ],
        None,
    );
    // only the taint that stays (dedicated) is left
    assert_eq!(
        taints_of(&i, "joining"),
        vec![("dedicated".to_string(), Effect::NoSchedule)]
    );
    // once initialized, every taint it still carries counts
    let i = input(
        &[
            NODEPOOL.to_string(),
            node("joined", true, JOINING_TAINTS, false),
            claim(
                "joined",
                "[{key: example.com/agent-not-ready, effect: NoSchedule}]",
            ),
        ],
        None,
    );
    assert_eq!(taints_of(&i, "joined").len(), 7);
}

#[test]
fn an_unmanaged_node_keeps_every_taint() {
    let unmanaged = node("static", false, JOINING_TAINTS, false)
        .replace("    karpenter.sh/nodepool: default\n", "");
    let i = input(&[NODEPOOL.to_string(), unmanaged], None);
    assert_eq!(taints_of(&i, "static").len(), 7);
}

fn planned(i: &Input) -> Vec<String> {
    let mut v: Vec<String> = i.pods.iter().map(|p| p.id.clone()).collect();
    v.sort();
    v
}

#[test]
fn pods_of_a_deleting_node_are_planned_again_only_if_they_can_be_evicted() {
    let docs = vec![
        NODEPOOL.to_string(),
        node("old", true, "[]", true),
        claim("old", "[]"),
        pod("free", "free", "old", "{}"),
        pod("exhausted", "exhausted", "old", "{}"),
        pdb("exhausted", "exhausted", "maxUnavailable: 1"),
        pod("zero", "zero", "old", "{}"),
        pdb("zero", "zero", "maxUnavailable: 0"),
        pod("zero-percent", "zero-percent", "old", "{}"),
        pdb("zero-percent", "zero-percent", "maxUnavailable: \"0%\""),
        pod("all", "all", "old", "{}"),
        pdb("all", "all", "minAvailable: \"100%\""),
        pod("two", "two", "old", "{}"),
        pdb("two-a", "two", "maxUnavailable: 1"),
        pdb("two-b", "two", "maxUnavailable: 1"),
        pod(
            "dnd",
            "dnd",
            "old",
            "{karpenter.sh/do-not-disrupt: \"true\"}",
        ),
        pod(
            "dnd-2h",
            "dnd-2h",
            "old",
            "{karpenter.sh/do-not-disrupt: 2h}",
        ),
    ];
    // at 12:00 the 2h protection from an 11:00 start still holds
    let i = input(&docs, Some("2026-12-01T12:00:00Z"));
    // a budget that allows one now (or would, once its pods are healthy) does not block
    assert_eq!(planned(&i), vec!["default/exhausted", "default/free"]);
    // at 13:30 it has run out and the pod may leave
    let i = input(&docs, Some("2026-12-01T13:30:00Z"));
    assert_eq!(
        planned(&i),
        vec!["default/dnd-2h", "default/exhausted", "default/free"]
    );
    // with no clock a duration still protects
    let i = input(&docs, None);
    assert_eq!(planned(&i), vec!["default/exhausted", "default/free"]);
}

/// A pending pod mounting claim `claim`.
fn pod_with_claim(claim: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: db, namespace: default}}
spec:
  containers: [{{name: c, image: x, resources: {{requests: {{cpu: 100m, memory: 100Mi}}}}}}]
  volumes: [{{name: data, persistentVolumeClaim: {{claimName: {claim}}}}}]
"#
    )
}

#[test]
fn an_unbound_claim_without_a_storage_class_makes_the_pod_unschedulable() {
    let claim = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec: {storageClassName: "", accessModes: [ReadWriteOnce], resources: {requests: {storage: 10Gi}}}
"#;
    let i = input(
        &[
            NODEPOOL.to_string(),
            claim.to_string(),
            pod_with_claim("data"),
        ],
        None,
    );
    let why = i.pods[0].ignored.clone().unwrap_or_default();
    assert!(why.contains("must define a storage class"), "{why}");
}

/// A claim bound to PV `pv` of `kind` (`local: {path: /d}` or `hostPath: {path: /d}` or
/// `csi: ...`) with node affinity `terms` (YAML flow list).
fn bound(kind: &str, terms: &str) -> [String; 2] {
    [
        format!(
            r#"
apiVersion: v1
kind: PersistentVolume
metadata: {{name: pv-data}}
spec:
  capacity: {{storage: 10Gi}}
  accessModes: [ReadWriteOnce]
  {kind}
  nodeAffinity: {{required: {{nodeSelectorTerms: {terms}}}}}
"#
        ),
        r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec: {volumeName: pv-data, accessModes: [ReadWriteOnce], resources: {requests: {storage: 10Gi}}}
"#
        .to_string(),
    ]
}

#[test]
fn local_and_host_path_volumes_drop_hostname_from_their_terms() {
    let zoned = "[{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [old-node]}, \
                 {key: topology.kubernetes.io/zone, operator: In, values: [us-east-1a]}]}]";
    let host_only =
        "[{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [old-node]}]}]";
    let volume_keys = |kind: &str, terms: &str| -> Vec<Vec<String>> {
        let [pv, pvc] = bound(kind, terms);
        let i = input(
            &[NODEPOOL.to_string(), pv, pvc, pod_with_claim("data")],
            None,
        );
        assert!(i.pods[0].ignored.is_none(), "{:?}", i.pods[0].ignored);
        i.pods[0]
            .volume_requirements
            .iter()
            .map(|r| r.keys().map(str::to_string).collect())
            .collect()
    };
    for kind in ["local: {path: /d}", "hostPath: {path: /d}"] {
        // the zone stays, the hostname goes
        assert_eq!(
            volume_keys(kind, zoned),
            vec![vec!["topology.kubernetes.io/zone".to_string()]],
            "{kind}"
        );
        // a term of hostname only is left empty: the volume does not constrain the node
        assert!(volume_keys(kind, host_only).is_empty(), "{kind}");
    }
    // any other volume keeps its hostname term (it really is on that node)
    let csi = "csi: {driver: ebs.csi.aws.com, volumeHandle: vol-1}";
    assert_eq!(
        volume_keys(csi, host_only),
        vec![vec!["kubernetes.io/hostname".to_string()]]
    );
}
