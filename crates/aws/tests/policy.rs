//! The IAM policy against the code: every AWS operation the crate calls is allowed by
//! `iam/controller-policy.json`, and the policy allows nothing the code never calls.

use std::collections::BTreeSet;
use std::path::Path;

/// `describe_subnets` -> `DescribeSubnets`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn sources(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs")
            && let Ok(text) = std::fs::read_to_string(&p)
        {
            out.push(text);
        }
    }
}

/// Every `<client>.<operation>()` call in the crate's sources, as `service:Operation`.
fn called() -> BTreeSet<String> {
    let mut texts = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut texts,
    );
    let mut out = BTreeSet::new();
    for text in texts {
        let flat: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        for service in ["ec2", "ssm", "sqs", "iam", "pricing", "eks"] {
            let needle = format!(".{service}.");
            let mut rest = flat.as_str();
            while let Some(at) = rest.find(&needle) {
                rest = &rest[at + needle.len()..];
                let op: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !op.is_empty() && rest[op.len()..].starts_with("()") {
                    out.insert(format!("{service}:{}", pascal(&op)));
                }
            }
        }
    }
    out
}

#[test]
fn the_policy_allows_exactly_what_the_code_calls() {
    let allowed = match karpenter_aws::policy::actions() {
        Ok(a) => a,
        Err(e) => panic!("iam/controller-policy.json: {e}"),
    };
    let called = called();
    assert!(called.len() > 15, "found only {called:?}");
    let missing: Vec<&String> = called.difference(&allowed).collect();
    assert!(missing.is_empty(), "called but not allowed: {missing:?}");
    // actions the code needs without calling them itself: RunInstances and CreateTags are
    // what CreateFleet does on the caller's behalf, PassRole what the instance profile does
    let implied: BTreeSet<String> = ["ec2:RunInstances", "ec2:CreateTags", "iam:PassRole"]
        .into_iter()
        .map(String::from)
        .collect();
    let unused: Vec<&String> = allowed
        .difference(&called)
        .filter(|a| !implied.contains(*a))
        .collect();
    assert!(unused.is_empty(), "allowed but never called: {unused:?}");
}

#[test]
fn the_policy_is_tag_scoped_and_fills_in() {
    let text = karpenter_aws::policy::render(
        "prod",
        "eu-west-1",
        "aws",
        "123456789012",
        "arn:aws:sqs:eu-west-1:123456789012:prod",
        "arn:aws:iam::123456789012:role/KarpenterNodeRole-prod",
    );
    assert!(!text.contains("${"), "{text}");
    let doc: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    let statements = doc["Statement"].as_array().cloned().unwrap_or_default();
    let by_sid = |sid: &str| {
        statements
            .iter()
            .find(|s| s["Sid"] == sid)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        by_sid("AllowScopedDeletion")["Condition"]["StringEquals"]["aws:ResourceTag/kubernetes.io/cluster/prod"],
        "owned"
    );
    assert_eq!(
        by_sid("AllowInterruptionQueueActions")["Resource"],
        "arn:aws:sqs:eu-west-1:123456789012:prod"
    );
}

#[test]
fn profile_paths_name_their_class_uid() {
    use karpenter_aws::profile::{path, uid_of};
    let p = path("us-east-1", "prod", "1234-abcd");
    assert_eq!(uid_of(&p, "us-east-1", "prod"), Some("1234-abcd"));
    assert_eq!(uid_of(&p, "us-east-1", "other"), None, "another cluster's");
    assert_eq!(uid_of(&p, "eu-west-1", "prod"), None, "another region's");
    assert_eq!(
        uid_of("/karpenter/us-east-1/prod/", "us-east-1", "prod"),
        None
    );
    assert_eq!(
        uid_of("/karpenter/us-east-1/prod/a/b/", "us-east-1", "prod"),
        None
    );
}
