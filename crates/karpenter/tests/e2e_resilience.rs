//! End to end on a real control plane: the controller killed mid-launch and restarted
//! (no leaked Node, no duplicate NodeClaim, the pods still land), the API server restarted
//! under it (it recovers), and two replicas with leader election (exactly one writes; kill
//! it and the other takes over).

mod e2e;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use e2e::{Env, NODECLASS, NodeClass, all_running, deployment, metric, names, nodepool};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node};
use karpenter_api::{NodeClaim, NodePool};

const MINUTE: Duration = Duration::from_secs(60);

/// Every Node has exactly one NodeClaim and every NodeClaim its Node.
fn consistent(env: &Env) -> Result<(), String> {
    let claims: Vec<NodeClaim> = env.nodeclaims();
    let nodes: Vec<Node> = env.nodes();
    let claimed: Vec<String> = claims
        .iter()
        .filter_map(|c| c.status.as_ref().and_then(|s| s.node_name.clone()))
        .collect();
    let unique: BTreeSet<&String> = claimed.iter().collect();
    let node_names: BTreeSet<String> = names(&nodes).into_iter().collect();
    if claimed.len() == claims.len()
        && unique.len() == claimed.len()
        && unique.iter().map(|s| (*s).clone()).collect::<BTreeSet<_>>() == node_names
    {
        Ok(())
    } else {
        Err(format!(
            "claims {:?} -> nodes {claimed:?}; nodes {node_names:?}",
            names(&claims)
        ))
    }
}

#[test]
fn a_controller_killed_mid_launch_neither_leaks_nor_duplicates() {
    let mut env = Env::new();
    env.create::<NodeClass>(NODECLASS);
    env.create::<NodePool>(&nodepool("default", "10m", "10%"));
    env.create::<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}");
    // pods that need a node each: many launches in one pass
    env.create::<Deployment>(&deployment("web", "app", 24, "3", "2Gi"));
    let first = env.start_controller(&["--disable-leader-election"]);
    let deadline = Instant::now() + 2 * MINUTE;
    let at_kill = loop {
        let claims = env.nodeclaims();
        if !claims.is_empty() {
            env.controller(first).kill();
            break claims;
        }
        assert!(Instant::now() < deadline, "no NodeClaim was created");
        std::thread::sleep(Duration::from_millis(20));
    };
    let killed: BTreeSet<String> = names(&at_kill).into_iter().collect();
    env.start_controller(&["--disable-leader-election"]);
    env.wait("24 pods running after the restart", 4 * MINUTE, |env| {
        all_running(env, "web", 24)
    });
    // a Node launched just before the kill, whose NodeClaim was never written, is garbage
    // collected; every NodeClaim written before the kill was kept and launched once
    env.wait("one NodeClaim per Node", 2 * MINUTE, consistent);
    let claims = env.nodeclaims();
    let now: BTreeSet<String> = names(&claims).into_iter().collect();
    assert!(
        now.is_superset(&killed),
        "claims {now:?} lost some of {killed:?}"
    );
    // one pod per node: as many claims as pods, never more
    assert_eq!(claims.len(), 24, "claims {now:?}");
}

#[test]
fn the_controller_recovers_from_an_api_server_restart() {
    let mut env = Env::new();
    env.create::<NodeClass>(NODECLASS);
    env.create::<NodePool>(&nodepool("default", "10m", "10%"));
    env.create::<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}");
    env.create::<Deployment>(&deployment("web", "before", 3, "1", "1Gi"));
    let c = env.start_controller(&["--disable-leader-election"]);
    env.wait("3 pods running", 3 * MINUTE, |env| {
        all_running(env, "web", 3)
    });
    env.control_plane("restart-apiserver");
    env.create::<Deployment>(&deployment("web", "after", 3, "1", "1Gi"));
    env.wait("6 pods running after the restart", 3 * MINUTE, |env| {
        all_running(env, "web", 6)
    });
    assert!(env.controller(c).running(), "the controller exited");
    env.wait("one NodeClaim per Node", MINUTE, consistent);
}

fn holder(env: &Env) -> Option<String> {
    let leases: Vec<Lease> = env.list();
    leases
        .into_iter()
        .find(|l| l.metadata.name.as_deref() == Some("karpenter-leader-election"))
        .and_then(|l| l.spec?.holder_identity)
        .filter(|h| !h.is_empty())
}

#[test]
fn with_two_replicas_exactly_one_leads_and_the_other_takes_over() {
    let mut env = Env::new();
    env.create::<NodeClass>(NODECLASS);
    env.create::<NodePool>(&nodepool("default", "10m", "10%"));
    env.create::<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}");
    let a = env.start_controller(&[]);
    let b = env.start_controller(&[]);
    let leader = env.wait("a leader", MINUTE, |env| {
        holder(env).ok_or("no holder".to_string())
    });
    let (lead, follow) = if leader.starts_with("replica-0") {
        (a, b)
    } else {
        (b, a)
    };
    env.create::<Deployment>(&deployment("web", "app", 4, "1", "1Gi"));
    env.wait("4 pods running", 3 * MINUTE, |env| {
        all_running(env, "web", 4)
    });
    let claims = env.nodeclaims().len() as f64;
    // the leader's metrics are updated at the end of the pass whose writes created the claims
    let leader_port = env.controller(lead).metrics_port;
    env.wait("the leader's metrics", MINUTE, |_| {
        let text = e2e::http_get(leader_port, "/metrics").unwrap_or_default();
        let created = metric(&text, "karpenter_nodeclaims_created_total");
        if created == claims {
            Ok(())
        } else {
            Err(format!("{created} created, {claims} NodeClaims"))
        }
    });
    assert_eq!(
        metric(
            &env.controller(follow).metrics(),
            "karpenter_nodeclaims_created_total"
        ),
        0.0,
        "the follower wrote"
    );
    // the leader crashes without releasing its lease; the follower takes over when it expires
    env.controller(lead).kill();
    env.wait("the follower leading", MINUTE, |env| match holder(env) {
        Some(h) if h != leader => Ok(()),
        other => Err(format!("holder {other:?}")),
    });
    env.scale("web", "app", 8);
    env.wait("8 pods running", 3 * MINUTE, |env| {
        all_running(env, "web", 8)
    });
    assert!(
        metric(
            &env.controller(follow).metrics(),
            "karpenter_nodeclaims_created_total"
        ) > 0.0,
        "the new leader launched nothing"
    );
    // a graceful stop releases the lease at once
    assert_eq!(env.controller(follow).terminate(), Some(0));
    assert_eq!(holder(&env), None);
}
