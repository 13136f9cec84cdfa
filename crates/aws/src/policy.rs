//! The controller's IAM policy (`iam/controller-policy.json`, tag-scoped as upstream's
//! getting-started policy, with `${ClusterName}`, `${Region}`, `${Partition}`,
//! `${AccountId}`, `${InterruptionQueueArn}` and `${NodeRoleArn}` to fill in), and the
//! actions it allows. A test checks them against every AWS operation this crate calls.

use std::collections::BTreeSet;

/// The policy document, with its placeholders.
pub const POLICY: &str = include_str!("../../../iam/controller-policy.json");

/// Every action the policy allows (`ec2:CreateFleet`), once.
pub fn actions() -> Result<BTreeSet<String>, serde_json::Error> {
    let doc: serde_json::Value = serde_json::from_str(POLICY)?;
    let mut out = BTreeSet::new();
    for s in doc["Statement"].as_array().into_iter().flatten() {
        match &s["Action"] {
            serde_json::Value::String(a) => {
                out.insert(a.clone());
            }
            serde_json::Value::Array(v) => {
                out.extend(v.iter().filter_map(|a| a.as_str().map(str::to_string)));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The policy with its placeholders filled in.
pub fn render(
    cluster: &str,
    region: &str,
    partition: &str,
    account: &str,
    queue_arn: &str,
    node_role_arn: &str,
) -> String {
    POLICY
        .replace("${ClusterName}", cluster)
        .replace("${Region}", region)
        .replace("${Partition}", partition)
        .replace("${AccountId}", account)
        .replace("${InterruptionQueueArn}", queue_arn)
        .replace("${NodeRoleArn}", node_role_arn)
}
