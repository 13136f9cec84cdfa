//! Interruption-queue messages parsed as upstream reads them.

use karpenter_aws::interruption::{Kind, parse};

fn kind(body: &str) -> (Kind, Vec<String>) {
    match parse(body) {
        Ok(m) => (m.kind, m.instance_ids),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn every_message_kind() {
    let ec2 = |detail_type: &str, detail: &str| {
        format!(
            r#"{{"version":"0","id":"x","source":"aws.ec2","detail-type":"{detail_type}","time":"2026-12-02T00:00:00Z","detail":{detail}}}"#
        )
    };
    let one = vec!["i-0123".to_string()];
    assert_eq!(
        kind(&ec2(
            "EC2 Spot Instance Interruption Warning",
            r#"{"instance-id":"i-0123","instance-action":"terminate"}"#
        )),
        (Kind::SpotInterrupted, one.clone())
    );
    assert_eq!(
        kind(&ec2(
            "EC2 Instance Rebalance Recommendation",
            r#"{"instance-id":"i-0123"}"#
        )),
        (Kind::RebalanceRecommendation, one.clone())
    );
    assert_eq!(
        kind(&ec2(
            "EC2 Instance State-change Notification",
            r#"{"instance-id":"i-0123","state":"stopping"}"#
        )),
        (Kind::InstanceStopped, one.clone())
    );
    assert_eq!(
        kind(&ec2(
            "EC2 Instance State-change Notification",
            r#"{"instance-id":"i-0123","state":"terminated"}"#
        )),
        (Kind::InstanceTerminated, one.clone())
    );
    assert_eq!(
        kind(&ec2(
            "EC2 Instance State-change Notification",
            r#"{"instance-id":"i-0123","state":"running"}"#
        ))
        .0,
        Kind::Unknown
    );
    assert_eq!(
        kind(&ec2(
            "EC2 Capacity Reservation Instance Interruption Warning",
            r#"{"instance-id":"i-0123"}"#
        )),
        (Kind::CapacityReservationInterrupted, one)
    );
    let health = r#"{"source":"aws.health","detail-type":"AWS Health Event","detail":{"service":"EC2","eventTypeCategory":"scheduledChange","affectedEntities":[{"entityValue":"i-1"},{"entityValue":"i-2"}]}}"#;
    assert_eq!(
        kind(health),
        (
            Kind::ScheduledChange,
            vec!["i-1".to_string(), "i-2".to_string()]
        )
    );
    let other_service = health.replace("\"EC2\"", "\"RDS\"");
    assert_eq!(kind(&other_service).0, Kind::Unknown);
    assert!(Kind::SpotInterrupted.deletes());
    assert!(!Kind::RebalanceRecommendation.deletes());
    assert_eq!(Kind::ScheduledChange.metric_label(), "scheduled_change");
}

#[test]
fn a_body_that_is_no_event_is_an_error() {
    assert!(parse("not json").is_err());
    assert!(parse(r#"{"detail-type":"x"}"#).is_err());
}
