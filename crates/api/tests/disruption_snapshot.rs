//! The disruption input read from manifests (`examples/disruption/cluster.yaml`, the
//! cluster the README's `plan --disruption` example uses): prices, lifecycle times, pod
//! blockers (do-not-disrupt true and durations, PodDisruptionBudgets with and without a
//! status, several budgets) and every drift rule upstream has, each switched on by editing
//! one object.

use std::path::Path;

use karpenter_api::manifest::{self, Manifest, Object};
use karpenter_api::snapshot::{self, Cluster, DisruptionSettings, DisruptionSnapshot};
use karpenter_catalog::AwsSettings;
use karpenter_disruption::NodeInfo;
use karpenter_model::time::{MINUTE, parse_rfc3339};

const NOW: &str = "2026-11-28T12:00:00Z";

fn now() -> i64 {
    parse_rfc3339(NOW).unwrap_or_default()
}

fn manifests() -> Vec<Manifest> {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/disruption/cluster.yaml"
    ));
    let bytes = std::fs::read(path).unwrap_or_default();
    match manifest::parse_bytes(path, &bytes) {
        Ok(m) => m,
        Err(e) => panic!("example does not load: {e:?}"),
    }
}

fn read(ms: &[Manifest]) -> Result<DisruptionSnapshot, Vec<String>> {
    let catalog = match karpenter_catalog::load("builtin:aws/us-east-1", &AwsSettings::default()) {
        Ok(c) => c,
        Err(e) => panic!("catalog: {e}"),
    };
    let cluster = match Cluster::new(ms.iter().map(|m| &m.object)) {
        Ok(c) => c,
        Err(e) => panic!("cluster: {e:?}"),
    };
    let settings = DisruptionSettings {
        now: now(),
        spot_to_spot: false,
        max_simulations: 100,
    };
    snapshot::disruption_input(&cluster, catalog, Default::default(), settings)
        .map_err(|e| e.iter().map(ToString::to_string).collect())
}

fn snap(ms: &[Manifest]) -> DisruptionSnapshot {
    match read(ms) {
        Ok(s) => s,
        Err(e) => panic!("snapshot: {e:?}"),
    }
}

fn node<'a>(s: &'a DisruptionSnapshot, name: &str) -> &'a NodeInfo {
    match s.input.nodes.iter().find(|n| n.name == name) {
        Some(n) => n,
        None => panic!("{name} is not a candidate"),
    }
}

fn edit(ms: &mut [Manifest], name: &str, f: impl Fn(&mut Object)) {
    let mut hit = false;
    for m in ms.iter_mut() {
        let n = match &m.object {
            Object::NodeClaim(o) => o.metadata.name.clone(),
            Object::NodePool(o) => o.metadata.name.clone(),
            Object::EC2NodeClass(o) => o.metadata.name.clone(),
            Object::Pod(o) => o.metadata.name.clone(),
            Object::PodDisruptionBudget(o) => o.metadata.name.clone(),
            _ => None,
        };
        if n.as_deref() == Some(name) {
            f(&mut m.object);
            hit = true;
        }
    }
    assert!(hit, "no object {name}");
}

fn annotate(o: &mut Object, key: &str, value: &str) {
    let meta = match o {
        Object::NodeClaim(o) => &mut o.metadata,
        Object::NodePool(o) => &mut o.metadata,
        Object::EC2NodeClass(o) => &mut o.metadata,
        Object::Pod(o) => &mut o.metadata,
        _ => panic!("unexpected kind"),
    };
    meta.annotations
        .get_or_insert_default()
        .insert(key.into(), value.into());
}

#[test]
fn nodes_prices_times_and_blockers_from_the_example() {
    let s = snap(&manifests());
    assert_eq!(
        s.input.nodes.len(),
        8,
        "every registered claim with a price"
    );
    assert_eq!(s.unknown.len(), 1);
    assert_eq!(s.unknown[0].node, "general-unknown");
    assert!(s.unknown[0].reason.contains("x9.mega"));
    let empty = node(&s, "general-empty");
    assert!(empty.price > 0.05 && empty.price < 0.2, "{}", empty.price);
    assert!(empty.initialized && empty.ready && !empty.disrupting);
    assert_eq!(empty.pods.len(), 1);
    assert!(!empty.pods[0].reschedulable, "a DaemonSet pod stays");
    assert_eq!(empty.drifted, None);
    let young = node(&s, "general-young");
    assert_eq!(young.quiet_since, now() - MINUTE);
    assert_eq!(
        node(&s, "general-old").created,
        parse_rfc3339("2026-10-25T00:00:00Z").unwrap_or_default()
    );
    let dnd = &node(&s, "general-dnd").pods[0];
    assert!(
        dnd.blocker
            .as_deref()
            .unwrap_or("")
            .contains("do-not-disrupt")
    );
    let db = &node(&s, "general-pdb").pods[0];
    assert!(db.blocker.as_deref().unwrap_or("").contains("app/db"));
    assert!(node(&s, "general-under").pods[0].blocker.is_none());
    let ami = node(&s, "general-ami").drifted.clone().unwrap_or_default();
    assert!(ami.starts_with("AMIDrift"), "{ami}");
    assert_eq!(s.input.pools.len(), 2);
}

#[test]
fn each_drift_rule() {
    let drift = |f: &dyn Fn(&mut Vec<Manifest>)| {
        let mut ms = manifests();
        f(&mut ms);
        node(&snap(&ms), "general-empty").drifted.clone()
    };
    let starts = |got: Option<String>, prefix: &str| {
        let got = got.unwrap_or_default();
        assert!(got.starts_with(prefix), "expected {prefix}, got {got:?}");
    };
    // the claim's NodePool hash is old
    starts(
        drift(&|ms| {
            edit(ms, "general-empty", |o| {
                annotate(o, "karpenter.sh/nodepool-hash", "1")
            })
        }),
        "NodePoolDrifted",
    );
    // the template changed: the NodePool's hash is computed as upstream would stamp it
    starts(
        drift(&|ms| {
            edit(ms, "general", |o| {
                if let Object::NodePool(p) = o {
                    p.spec.template.spec.expire_after = "360h".into();
                }
            })
        }),
        "NodePoolDrifted",
    );
    // a different hash version is never compared
    assert_eq!(
        drift(&|ms| {
            edit(ms, "general-empty", |o| {
                annotate(o, "karpenter.sh/nodepool-hash", "1");
                annotate(o, "karpenter.sh/nodepool-hash-version", "v2");
            })
        }),
        None
    );
    // the NodePool no longer allows the node's instance family
    starts(
        drift(&|ms| {
            edit(ms, "general", |o| {
                if let Object::NodePool(p) = o {
                    p.spec.template.spec.requirements[1].values = vec!["c5".into()];
                }
            })
        }),
        "RequirementsDrifted",
    );
    // the EC2NodeClass changed
    starts(
        drift(&|ms| {
            edit(ms, "default", |o| {
                annotate(o, "karpenter.k8s.aws/ec2nodeclass-hash", "43")
            })
        }),
        "NodeClassDrift",
    );
    // the cloud provider said so
    starts(
        drift(&|ms| {
            edit(ms, "general-empty", |o| {
                if let Object::NodeClaim(c) = o
                    && let Some(st) = c.status.as_mut()
                {
                    let mut cond = st.conditions.clone().unwrap_or_default()[0].clone();
                    cond.type_ = "Drifted".into();
                    cond.reason = "SubnetDrift".into();
                    st.conditions.get_or_insert_default().push(cond);
                }
            })
        }),
        "SubnetDrift",
    );
}

fn report_blocker(annotation: Option<&str>, started_minutes_ago: i64) -> Option<String> {
    let mut ms = manifests();
    edit(&mut ms, "web-1", |o| {
        if let Some(a) = annotation {
            annotate(o, "karpenter.sh/do-not-disrupt", a);
        }
        if let Object::Pod(p) = o
            && let Some(st) = p.status.as_mut()
        {
            let t = karpenter_model::time::rfc3339(now() - started_minutes_ago * MINUTE);
            st.start_time = serde_json::from_value(serde_json::Value::from(t)).ok();
        }
    });
    node(&snap(&ms), "general-under").pods[0].blocker.clone()
}

#[test]
fn do_not_disrupt_true_or_for_a_while() {
    assert!(report_blocker(Some("true"), 600).is_some());
    let protected = report_blocker(Some("30m"), 10).unwrap_or_default();
    assert!(protected.contains("do-not-disrupt=30m"), "{protected}");
    assert_eq!(report_blocker(Some("30m"), 60), None, "protection ran out");
    assert_eq!(
        report_blocker(Some("soon"), 10),
        None,
        "invalid values are ignored"
    );
    assert_eq!(report_blocker(None, 10), None);
}

#[test]
fn pod_disruption_budgets_with_and_without_status() {
    let blocker = |f: &dyn Fn(&mut Vec<Manifest>)| {
        let mut ms = manifests();
        f(&mut ms);
        node(&snap(&ms), "general-pdb").pods[0].blocker.clone()
    };
    let no_status = |ms: &mut Vec<Manifest>| {
        edit(ms, "db", |o| {
            if let Object::PodDisruptionBudget(b) = o {
                b.status = None;
            }
        })
    };
    // computed: one healthy pod, minAvailable 1 keeps it
    assert!(blocker(&no_status).is_some());
    // computed: maxUnavailable 1 lets it go
    assert_eq!(
        blocker(&|ms| {
            no_status(ms);
            edit(ms, "db", |o| {
                if let Object::PodDisruptionBudget(b) = o
                    && let Some(spec) = b.spec.as_mut()
                {
                    spec.min_available = None;
                    spec.max_unavailable = serde_json::from_value(serde_json::json!(1)).ok();
                }
            });
        }),
        None
    );
    // two budgets over one pod block it whatever they allow
    let two = blocker(&|ms| {
        let mut second = None;
        for m in ms.iter() {
            if let Object::PodDisruptionBudget(b) = &m.object {
                let mut b = b.clone();
                b.metadata.name = Some("db-2".into());
                if let Some(st) = b.status.as_mut() {
                    st.disruptions_allowed = Some(1);
                }
                second = Some(Manifest {
                    source: m.source.clone(),
                    object: Object::PodDisruptionBudget(b),
                });
            }
        }
        ms.extend(second);
        edit(ms, "db", |o| {
            if let Object::PodDisruptionBudget(b) = o
                && let Some(st) = b.status.as_mut()
            {
                st.disruptions_allowed = Some(1);
            }
        });
    });
    assert!(two.unwrap_or_default().contains("more than one"));
}

#[test]
fn a_missing_creation_timestamp_names_the_object_and_field() {
    let mut ms = manifests();
    edit(&mut ms, "general-old", |o| {
        if let Object::NodeClaim(c) = o {
            c.metadata.creation_timestamp = None;
        }
    });
    let errors = match read(&ms) {
        Ok(_) => panic!("accepted a NodeClaim without creationTimestamp"),
        Err(e) => e,
    };
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("general-old"), "{}", errors[0]);
    assert!(
        errors[0].contains("metadata.creationTimestamp"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_terminating_statefulset_pod_still_needs_a_place_other_terminating_pods_do_not() {
    let terminating = |kind: &'static str| {
        move |o: &mut Object| {
            let Object::Pod(p) = o else {
                panic!("web-1 is a Pod")
            };
            p.metadata.deletion_timestamp =
                serde_json::from_value(serde_json::json!("2026-11-28T11:59:00Z")).ok();
            assert!(p.metadata.deletion_timestamp.is_some());
            for owner in p.metadata.owner_references.iter_mut().flatten() {
                owner.kind = kind.into();
            }
        }
    };
    let mut ms = manifests();
    edit(&mut ms, "web-1", terminating("StatefulSet"));
    let under = node(&snap(&ms), "general-under").clone();
    assert!(under.pods[0].reschedulable, "comes back under its name");
    let mut ms = manifests();
    edit(&mut ms, "web-1", terminating("ReplicaSet"));
    let under = node(&snap(&ms), "general-under").clone();
    assert!(!under.pods[0].reschedulable, "on its way out");
}
