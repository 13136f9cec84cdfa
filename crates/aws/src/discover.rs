//! What the provider learns once at start and then every 12 hours: the instance types and
//! where they are offered (DescribeInstanceTypes, DescribeInstanceTypeOfferings), and the cluster's endpoint and CA (DescribeCluster) when the
//! settings do not give them.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::LocationType;
use karpenter_catalog::aws::InstanceTypeInfo;

use crate::clients::Clients;
use crate::error::AwsError;

/// The instance types of the region.
pub async fn instance_types(clients: &Clients) -> Result<Vec<InstanceTypeInfo>, AwsError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let answer = clients
            .ec2
            .describe_instance_types()
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| AwsError::sdk("DescribeInstanceTypes", e))?;
        out.extend(answer.instance_types().iter().map(crate::describe::info));
        token = answer
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out.sort_by(|a, b| a.instance_type.cmp(&b.instance_type));
    Ok(out)
}

/// The zones each type is offered in.
pub async fn offerings(clients: &Clients) -> Result<BTreeMap<String, BTreeSet<String>>, AwsError> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let answer = clients
            .ec2
            .describe_instance_type_offerings()
            .location_type(LocationType::AvailabilityZone)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| AwsError::sdk("DescribeInstanceTypeOfferings", e))?;
        for o in answer.instance_type_offerings() {
            if let (Some(t), Some(z)) = (o.instance_type(), o.location()) {
                out.entry(t.as_str().to_string())
                    .or_default()
                    .insert(z.to_string());
            }
        }
        token = answer
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

/// The cluster's endpoint and CA bundle from DescribeCluster.
pub async fn cluster(clients: &Clients, name: &str) -> Result<(String, Option<String>), AwsError> {
    let answer = clients
        .eks
        .describe_cluster()
        .name(name)
        .send()
        .await
        .map_err(|e| AwsError::sdk("DescribeCluster", e))?;
    let c = answer
        .cluster()
        .ok_or_else(|| AwsError::other("DescribeCluster", format!("no cluster {name}")))?;
    let endpoint = c
        .endpoint()
        .ok_or_else(|| AwsError::other("DescribeCluster", "no endpoint"))?
        .to_string();
    let ca = c
        .certificate_authority()
        .and_then(|a| a.data())
        .map(str::to_string);
    Ok((endpoint, ca))
}
