//! Interruption events from a provider that reads a queue: an `Interrupted` event drains
//! and deletes the NodeClaim with upstream's reasons on the NodeClaim and the Node
//! (`InstanceStopping`, then `TerminatingOnInterruption`) and counts the disruption; a
//! `Notice` posts its events and touches nothing; neither counts received messages (the
//! provider counts those); an event for an instance no NodeClaim holds does nothing.

mod common;

use std::collections::BTreeMap;

use common::{FakeCloud, Machine, launched_node};
use karpenter_cloud::CloudEvent;
use karpenter_controllers::{ClusterState, Recorder, interruption};

fn machine() -> Machine<'static> {
    Machine {
        instance_type: "m5.large",
        price: 0.096,
        labels: BTreeMap::new(),
        allocatable: BTreeMap::new(),
        capacity: BTreeMap::new(),
    }
}

fn reasons(rec: &Recorder, object: &str) -> Vec<&'static str> {
    rec.events
        .iter()
        .filter(|e| e.object == object)
        .map(|e| e.reason)
        .collect()
}

#[test]
fn interrupted_drains_and_deletes_notice_only_posts_events() {
    let mut s = ClusterState::default();
    launched_node(&mut s, "a", machine());
    launched_node(&mut s, "b", machine());
    let mut cloud = FakeCloud {
        events: vec![
            CloudEvent::Notice {
                provider_id: "aws:///us-east-1a/i-b".into(),
                reason: "SpotRebalanceRecommendation",
                message: "Spot rebalance recommendation was triggered",
            },
            CloudEvent::Interrupted {
                provider_id: "aws:///us-east-1a/i-a".into(),
                message_type: "instance_stopped",
                reason: "InstanceStopping",
                message: "Instance is stopping",
            },
            CloudEvent::Interrupted {
                provider_id: "aws:///us-east-1a/i-unknown".into(),
                message_type: "scheduled_change",
                reason: "InstanceUnhealthy",
                message: "An unhealthy warning was triggered for the instance",
            },
        ],
        ..FakeCloud::default()
    };
    let mut rec = Recorder::default();
    interruption::handle(&mut s, &mut cloud, 10, &mut rec);

    let a = &s.claims()["claim-a"];
    assert!(
        a.deleting_since.is_some(),
        "the stopped instance's claim is deleted"
    );
    let b = &s.claims()["claim-b"];
    assert!(
        b.deleting_since.is_none(),
        "a rebalance recommendation deletes nothing"
    );
    assert_eq!(
        reasons(&rec, "NodeClaim/claim-a"),
        vec!["InstanceStopping", "TerminatingOnInterruption"]
    );
    let node_a = a.node.clone().unwrap_or_default();
    assert_eq!(
        reasons(&rec, &format!("Node/{node_a}")),
        vec!["InstanceStopping", "TerminatingOnInterruption"]
    );
    assert_eq!(
        reasons(&rec, "NodeClaim/claim-b"),
        vec!["SpotRebalanceRecommendation"]
    );
    let node_b = b.node.clone().unwrap_or_default();
    assert_eq!(
        reasons(&rec, &format!("Node/{node_b}")),
        vec!["SpotRebalanceRecommendation"]
    );
    assert_eq!(rec.events.len(), 6, "nothing for the unknown instance");
    assert_eq!(
        rec.total("karpenter_nodeclaims_disrupted_total"),
        1.0,
        "{:?}",
        rec.counters
    );
    assert_eq!(
        rec.total("karpenter_interruption_received_messages_total"),
        0.0,
        "the queue-reading provider counts its own messages"
    );
}
