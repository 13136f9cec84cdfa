//! EC2NodeClass validation: one test per rule, valid and invalid.

mod common;

use common::{assert_one, errors_after, remove, set};
use karpenter_api::EC2NodeClass;
use serde_json::{Value, json};

const BASE: &str = r#"
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: default}
spec:
  role: KarpenterNodeRole-my-cluster
  amiSelectorTerms:
    - alias: al2023@latest
  subnetSelectorTerms:
    - tags: {karpenter.sh/discovery: my-cluster}
  securityGroupSelectorTerms:
    - tags: {karpenter.sh/discovery: my-cluster}
"#;

fn errs(patch: impl FnOnce(&mut Value)) -> Vec<String> {
    errors_after::<EC2NodeClass>(BASE, patch)
}

#[test]
fn base_is_valid() {
    assert!(errs(|_| {}).is_empty());
}

#[test]
fn exactly_one_of_role_and_instance_profile() {
    assert_one(
        &errs(|v| remove(v, "/spec/role")),
        &[
            r#"EC2NodeClass "default": spec: must specify exactly one of ['role', 'instanceProfile']"#,
        ],
    );
    assert_one(
        &errs(|v| set(v, "/spec/instanceProfile", json!("p"))),
        &["exactly one of"],
    );
    assert!(
        errs(|v| {
            remove(v, "/spec/role");
            set(v, "/spec/instanceProfile", json!("p"));
        })
        .is_empty()
    );
    assert_one(
        &errs(|v| set(v, "/spec/role", json!(""))),
        &["spec.role", "role cannot be empty"],
    );
}

#[test]
fn subnet_terms() {
    // an empty list breaks two of upstream's rules: `self.size() != 0`, and vacuously
    // `!self.all(x, has(x.id) && has(x.tags))`; an API server reports both
    let empty = errs(|v| set(v, "/spec/subnetSelectorTerms", json!([])));
    assert_eq!(empty.len(), 2, "{empty:#?}");
    assert!(empty[0].contains("spec.subnetSelectorTerms: subnetSelectorTerms cannot be empty"));
    assert!(empty[1].contains("'id' is mutually exclusive"));
    assert_one(
        &errs(|v| set(v, "/spec/subnetSelectorTerms", json!([{}]))),
        &[
            "subnetSelectorTerms[0]",
            "expected at least one, got none, ['tags', 'id']",
        ],
    );
    assert_one(
        &errs(|v| {
            set(
                v,
                "/spec/subnetSelectorTerms",
                json!([{"id": "subnet-1", "tags": {"a": "b"}}]),
            )
        }),
        &["'id' is mutually exclusive"],
    );
    // upstream's rule uses all(): one plain term beside an id+tags term passes, as upstream
    assert!(
        errs(|v| {
            set(
                v,
                "/spec/subnetSelectorTerms",
                json!([{"id": "subnet-1", "tags": {"a": "b"}}, {"tags": {"c": "d"}}]),
            )
        })
        .is_empty()
    );
    assert_one(
        &errs(|v| set(v, "/spec/subnetSelectorTerms", json!([{"id": "sub-1"}]))),
        &["subnetSelectorTerms[0].id", "subnet id"],
    );
    assert_one(
        &errs(|v| set(v, "/spec/subnetSelectorTerms", json!([{"tags": {"a": ""}}]))),
        &["empty tag keys or values"],
    );
    let many: serde_json::Map<String, Value> =
        (0..21).map(|i| (format!("k{i}"), json!("v"))).collect();
    assert_one(
        &errs(|v| set(v, "/spec/subnetSelectorTerms", json!([{"tags": many}]))),
        &["at most 20 tags"],
    );
    let thirty_one: Vec<Value> = (0..31)
        .map(|i| json!({"id": format!("subnet-{i}")}))
        .collect();
    assert_one(
        &errs(|v| set(v, "/spec/subnetSelectorTerms", Value::Array(thirty_one))),
        &["at most 30 items"],
    );
}

#[test]
fn security_group_terms() {
    assert_one(
        &errs(|v| {
            set(
                v,
                "/spec/securityGroupSelectorTerms",
                json!([{"name": "n", "tags": {"a": "b"}}]),
            )
        }),
        &["'name' is mutually exclusive"],
    );
    assert_one(
        &errs(|v| {
            set(
                v,
                "/spec/securityGroupSelectorTerms",
                json!([{"id": "sg-1", "name": "n"}]),
            )
        })
        .iter()
        .take(1)
        .cloned()
        .collect::<Vec<_>>(),
        &["mutually exclusive"],
    );
    assert!(
        errs(|v| set(
            v,
            "/spec/securityGroupSelectorTerms",
            json!([{"name": "n"}, {"id": "sg-0abc"}])
        ))
        .is_empty()
    );
}

#[test]
fn capacity_reservation_terms() {
    assert_one(
        &errs(|v| {
            set(
                v,
                "/spec/capacityReservationSelectorTerms",
                json!([{"id": "cr-1", "ownerID": "012345678901"}]),
            )
        }),
        &["'id' is mutually exclusive"],
    );
    assert_one(
        &errs(|v| {
            set(
                v,
                "/spec/capacityReservationSelectorTerms",
                json!([{"ownerID": "0123"}]),
            )
        })
        .iter()
        .filter(|m| m.contains("ownerID"))
        .cloned()
        .collect::<Vec<_>>(),
        &["12-digit"],
    );
    assert_one(
        &errs(|v| {
            set(
                v,
                "/spec/capacityReservationSelectorTerms",
                json!([{"tags": {"a": "b"}, "instanceMatchCriteria": "any"}]),
            )
        }),
        &["instanceMatchCriteria"],
    );
    assert!(
        errs(|v| set(
            v,
            "/spec/capacityReservationSelectorTerms",
            json!([{"tags": {"a": "b"}, "ownerID": "012345678901"}])
        ))
        .is_empty()
    );
    // instanceMatchCriteria alone selects (upstream v1.14), and is exclusive with id
    assert!(
        errs(|v| set(
            v,
            "/spec/capacityReservationSelectorTerms",
            json!([{"instanceMatchCriteria": "open"}])
        ))
        .is_empty()
    );
    assert_one(
        &errs(|v| {
            set(
                v,
                "/spec/capacityReservationSelectorTerms",
                json!([{"id": "cr-1", "instanceMatchCriteria": "open"}]),
            )
        }),
        &["'id' is mutually exclusive, cannot be set along with other fields"],
    );
}

#[test]
fn ami_terms_and_aliases() {
    // no terms means no alias either, so amiFamily is missing too, as upstream's CEL says
    let e = errs(|v| set(v, "/spec/amiSelectorTerms", json!([])));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].contains("spec.amiSelectorTerms: amiSelectorTerms needs at least one term"),
        "{e:?}"
    );
    assert_one(
        &errs(|v| set(v, "/spec/amiSelectorTerms/0/alias", json!("al2023"))),
        &["improperly formatted"],
    );
    assert_one(
        &errs(|v| set(v, "/spec/amiSelectorTerms/0/alias", json!("ubuntu@latest"))),
        &["family \"ubuntu\" is not supported"],
    );
    assert_one(
        &errs(|v| set(v, "/spec/amiSelectorTerms/0/alias", json!("windows2022@v1"))),
        &["windows families may only specify version 'latest'"],
    );
    assert!(
        errs(|v| set(
            v,
            "/spec/amiSelectorTerms/0/alias",
            json!("bottlerocket@v1.20.0")
        ))
        .is_empty()
    );
    let e = errs(|v| {
        set(
            v,
            "/spec/amiSelectorTerms",
            json!([{"alias": "al2023@latest"}, {"id": "ami-0123"}]),
        )
    });
    assert!(
        e.iter()
            .any(|m| m.contains("cannot be set with a combination of other amiSelectorTerms")),
        "{e:?}"
    );
    let e = errs(|v| {
        set(
            v,
            "/spec/amiSelectorTerms",
            json!([{"alias": "al2023@latest", "owner": "amazon"}]),
        )
    });
    assert_one(&e, &["'alias' is mutually exclusive"]);
    let e = errs(|v| {
        set(
            v,
            "/spec/amiSelectorTerms",
            json!([{"id": "ami-0123", "name": "x"}]),
        )
    });
    assert!(
        e.iter().any(|m| m.contains("'id' is mutually exclusive")),
        "{e:?}"
    );
}

#[test]
fn ami_family_required_without_alias_and_consistent_with_it() {
    let e = errs(|v| set(v, "/spec/amiSelectorTerms", json!([{"tags": {"a": "b"}}])));
    assert_one(
        &e,
        &[
            "spec.amiFamily",
            "must specify amiFamily if amiSelectorTerms does not contain an alias",
        ],
    );
    assert!(
        errs(|v| {
            set(v, "/spec/amiSelectorTerms", json!([{"tags": {"a": "b"}}]));
            set(v, "/spec/amiFamily", json!("AL2023"));
        })
        .is_empty()
    );
    assert_one(
        &errs(|v| set(v, "/spec/amiFamily", json!("Bottlerocket"))),
        &["amiFamily must be 'AL2023' or 'Custom'"],
    );
    assert!(errs(|v| set(v, "/spec/amiFamily", json!("Custom"))).is_empty());
    assert!(errs(|v| set(v, "/spec/amiFamily", json!("AL2023"))).is_empty());
}

#[test]
fn restricted_tags() {
    for key in [
        "kubernetes.io/cluster/my-cluster",
        "eks:eks-cluster-name",
        "karpenter.sh/nodepool",
        "karpenter.sh/nodeclaim",
        "karpenter.k8s.aws/ec2nodeclass",
    ] {
        let e = errs(|v| set(v, "/spec/tags", json!({key: "x"})));
        assert_one(&e, &["tag contains a restricted tag"]);
    }
    assert_one(
        &errs(|v| set(v, "/spec/tags", json!({"": "x"}))),
        &["empty tag keys"],
    );
    assert!(errs(|v| set(v, "/spec/tags", json!({"team": "a"}))).is_empty());
}

#[test]
fn kubelet_settings() {
    let k = "/spec/kubelet";
    assert_one(
        &errs(|v| set(v, k, json!({"maxPods": -1}))),
        &["spec.kubelet.maxPods", "at least 0"],
    );
    assert_one(
        &errs(|v| set(v, k, json!({"systemReserved": {"gpu": "1"}}))),
        &["valid keys for systemReserved"],
    );
    assert_one(
        &errs(|v| set(v, k, json!({"kubeReserved": {"cpu": "-100m"}}))),
        &["kubeReserved value cannot be a negative resource quantity"],
    );
    assert_one(
        &errs(|v| set(v, k, json!({"kubeReserved": {"memory": "lots"}}))),
        &["kubeReserved[memory]"],
    );
    assert_one(
        &errs(|v| set(v, k, json!({"evictionHard": {"memory.free": "100Mi"}}))),
        &["valid keys for evictionHard"],
    );
    assert_one(
        &errs(|v| set(v, k, json!({"evictionHard": {"memory.available": "120%"}}))),
        &["percentage"],
    );
    assert_one(
        &errs(|v| set(v, k, json!({"evictionSoft": {"memory.available": "1Gi"}}))),
        &["evictionSoft OwnerKey does not have a matching evictionSoftGracePeriod"],
    );
    assert_one(
        &errs(|v| {
            set(
                v,
                k,
                json!({"evictionSoftGracePeriod": {"memory.available": "1m"}}),
            )
        }),
        &["evictionSoftGracePeriod OwnerKey does not have a matching evictionSoft"],
    );
    assert_one(
        &errs(|v| {
            set(
                v,
                k,
                json!({"imageGCHighThresholdPercent": 50, "imageGCLowThresholdPercent": 60}),
            )
        }),
        &["imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent"],
    );
    assert_one(
        &errs(|v| set(v, k, json!({"imageGCHighThresholdPercent": 101}))),
        &["between 0 and 100"],
    );
    assert!(errs(|v| set(v, k, json!({"maxPods": 110, "evictionSoft": {"memory.available": "1Gi"}, "evictionSoftGracePeriod": {"memory.available": "1m"}, "evictionHard": {"memory.available": "100Mi", "nodefs.available": "10%"}}))).is_empty());
}

#[test]
fn block_device_mappings() {
    let p = "/spec/blockDeviceMappings";
    let root =
        json!({"deviceName": "/dev/xvda", "rootVolume": true, "ebs": {"volumeSize": "20Gi"}});
    assert_one(
        &errs(|v| set(v, p, json!([root.clone(), root.clone()]))),
        &["must have only one blockDeviceMappings with rootVolume"],
    );
    assert_one(
        &errs(|v| set(v, p, json!([{"ebs": {"volumeType": "gp3"}}]))),
        &["snapshotID or volumeSize must be defined"],
    );
    assert_one(
        &errs(|v| set(v, p, json!([{"ebs": {"volumeSize": "65Ti"}}]))),
        &["volumeSize"],
    );
    assert_one(
        &errs(|v| {
            set(
                v,
                p,
                json!([{"ebs": {"volumeSize": "8Gi", "volumeType": "gp5"}}]),
            )
        }),
        &["volumeType"],
    );
    assert_one(
        &errs(|v| {
            set(
                v,
                p,
                json!([{"ebs": {"snapshotID": "snap-1", "volumeInitializationRate": 50}}]),
            )
        }),
        &["between 100 and 300"],
    );
    assert_one(
        &errs(|v| {
            set(
                v,
                p,
                json!([{"ebs": {"volumeSize": "8Gi", "volumeInitializationRate": 150}}]),
            )
        }),
        &["snapshotID must be set when volumeInitializationRate is set"],
    );
    assert!(
        errs(|v| set(
            v,
            p,
            json!([root.clone(), {"deviceName": "/dev/xvdb", "ebs": {"snapshotID": "snap-1"}}])
        ))
        .is_empty()
    );
}

#[test]
fn metadata_options() {
    let p = "/spec/metadataOptions";
    assert_one(
        &errs(|v| set(v, p, json!({"httpPutResponseHopLimit": 65}))),
        &["between 1 and 64"],
    );
    assert_one(
        &errs(|v| set(v, p, json!({"httpTokens": "sometimes"}))),
        &["httpTokens"],
    );
    assert_one(
        &errs(|v| set(v, p, json!({"httpEndpoint": "on"}))),
        &["httpEndpoint"],
    );
}

#[test]
fn placement_network_and_connection_tracking() {
    assert_one(
        &errs(|v| {
            set(
                v,
                "/spec/placementGroupSelector",
                json!({"name": "a", "id": "pg-1"}),
            )
        }),
        &["'name' and 'id' are mutually exclusive"],
    );
    assert_one(
        &errs(|v| set(v, "/spec/placementGroupSelector", json!({}))),
        &["expected at least one, got none, ['name', 'id']"],
    );
    assert_one(
        &errs(|v| set(v, "/spec/placementGroupSelector", json!({"name": ""}))),
        &["spec.placementGroupSelector.name", "at least 1 character"],
    );
    assert_one(
        &errs(|v| {
            set(
                v,
                "/spec/placementGroupSelector",
                json!({"id": "placement-1"}),
            )
        }),
        &["placement group id"],
    );
    assert_one(
        &errs(|v| {
            set(
                v,
                "/spec/networkInterfaces",
                json!([{"networkCardIndex": 1, "deviceIndex": 0, "interfaceType": "efa-only"}]),
            )
        }),
        &["must include a primary interface with interfaceType='interface'"],
    );
    // an empty list is accepted (upstream: `self.size() == 0 || ...`)
    assert!(errs(|v| set(v, "/spec/networkInterfaces", json!([]))).is_empty());
    let primary = json!({"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "interface"});
    let efa = |card: i64, device: i64| json!({"networkCardIndex": card, "deviceIndex": device, "interfaceType": "efa-only"});
    assert!(
        errs(|v| set(
            v,
            "/spec/networkInterfaces",
            json!([primary, efa(1, 0), efa(2, 0)])
        ))
        .is_empty()
    );
    for (what, list) in [
        ("duplicate card/device pair", json!([primary, primary])),
        (
            "two EFA devices on one card",
            json!([primary, efa(1, 0), efa(1, 1)]),
        ),
    ] {
        assert_one(
            &errs(|v| set(v, "/spec/networkInterfaces", list.clone())),
            &["must not have duplicate networkCardIndex and deviceIndex pairs"],
        );
        let _ = what;
    }
    assert_one(
        &errs(|v| set(v, "/spec/connectionTracking", json!({}))),
        &["at least one of tcpEstablishedTimeout, udpStreamTimeout, or udpTimeout must be set"],
    );
    assert_one(
        &errs(|v| set(v, "/spec/connectionTracking", json!({"udpTimeout": 61}))),
        &["between 30 and 60"],
    );
    assert_one(
        &errs(|v| set(v, "/spec/ipPrefixCount", json!(-1))),
        &["spec.ipPrefixCount"],
    );
    assert_one(
        &errs(|v| {
            set(
                v,
                "/spec/cpuOptions",
                json!({"nestedVirtualization": "yes"}),
            )
        }),
        &["nestedVirtualization"],
    );
}
