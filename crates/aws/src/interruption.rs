//! Interruption-queue messages (EventBridge events delivered through SQS), parsed as
//! upstream's interruption controller reads them: spot interruption warnings, rebalance
//! recommendations, AWS Health scheduled changes for EC2, instance state changes and
//! capacity-reservation interruption warnings. A message that parses as none of them is
//! `Unknown` and is deleted without action, as upstream does.

use serde_json::Value;

/// What a message says, with the instances it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Spot interruption warning (two-minute notice): drain and delete, and mark the spot
    /// offering unavailable.
    SpotInterrupted,
    /// Rebalance recommendation: an event only.
    RebalanceRecommendation,
    /// AWS Health scheduled change for EC2: drain and delete.
    ScheduledChange,
    /// The instance is stopping or stopped: drain and delete.
    InstanceStopped,
    /// The instance is shutting down or terminated: drain and delete.
    InstanceTerminated,
    /// A capacity reservation reclaims the instance: drain and delete, and mark the
    /// reservation unavailable.
    CapacityReservationInterrupted,
    /// Not a message the controller acts on.
    Unknown,
}

impl Kind {
    /// The `message_type` label of upstream's interruption metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Kind::SpotInterrupted => "spot_interrupted",
            Kind::RebalanceRecommendation => "rebalance_recommendation",
            Kind::ScheduledChange => "scheduled_change",
            Kind::InstanceStopped => "instance_stopped",
            Kind::InstanceTerminated => "instance_terminated",
            Kind::CapacityReservationInterrupted => "capacity_reservation_interrupted",
            Kind::Unknown => "no_op",
        }
    }

    /// Does the controller drain and delete the NodeClaims of the instances?
    pub fn deletes(&self) -> bool {
        !matches!(self, Kind::RebalanceRecommendation | Kind::Unknown)
    }
}

/// A parsed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// What it says.
    pub kind: Kind,
    /// The EC2 instance ids it names.
    pub instance_ids: Vec<String>,
    /// The event's `time`, as sent.
    pub time: String,
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("interruption message is not an EventBridge event: {0}")]
pub struct ParseError(pub String);

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut v = v;
    for p in path {
        v = v.get(p)?;
    }
    v.as_str()
}

/// Parse one SQS message body.
pub fn parse(body: &str) -> Result<Message, ParseError> {
    let v: Value = serde_json::from_str(body).map_err(|e| ParseError(e.to_string()))?;
    let source = str_at(&v, &["source"]).ok_or_else(|| ParseError("no source".into()))?;
    let detail_type =
        str_at(&v, &["detail-type"]).ok_or_else(|| ParseError("no detail-type".into()))?;
    let time = str_at(&v, &["time"]).unwrap_or_default().to_string();
    let instance = str_at(&v, &["detail", "instance-id"]).map(str::to_string);
    let one = |kind| Message {
        kind,
        instance_ids: instance.iter().cloned().collect(),
        time: time.clone(),
    };
    let msg = match (source, detail_type) {
        ("aws.ec2", "EC2 Spot Instance Interruption Warning") => one(Kind::SpotInterrupted),
        ("aws.ec2", "EC2 Instance Rebalance Recommendation") => one(Kind::RebalanceRecommendation),
        ("aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning") => {
            one(Kind::CapacityReservationInterrupted)
        }
        ("aws.ec2", "EC2 Instance State-change Notification") => {
            match str_at(&v, &["detail", "state"]).unwrap_or_default() {
                "stopping" | "stopped" => one(Kind::InstanceStopped),
                "shutting-down" | "terminated" => one(Kind::InstanceTerminated),
                _ => one(Kind::Unknown),
            }
        }
        ("aws.health", "AWS Health Event") => {
            let detail = v.get("detail");
            let ec2 = detail
                .and_then(|d| d.get("service"))
                .and_then(Value::as_str)
                == Some("EC2");
            let scheduled = detail
                .and_then(|d| d.get("eventTypeCategory"))
                .and_then(Value::as_str)
                == Some("scheduledChange");
            let ids = detail
                .and_then(|d| d.get("affectedEntities"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("entityValue").and_then(Value::as_str))
                .map(str::to_string)
                .collect();
            Message {
                kind: if ec2 && scheduled {
                    Kind::ScheduledChange
                } else {
                    Kind::Unknown
                },
                instance_ids: ids,
                time: time.clone(),
            }
        }
        _ => one(Kind::Unknown),
    };
    Ok(msg)
}
