//! The tags upstream puts on what it creates (instances, volumes, network interfaces, fleet
//! requests, launch templates, instance profiles), and the tag keys it reads back.

use std::collections::BTreeMap;

/// NodePool tag key.
pub const NODEPOOL: &str = "karpenter.sh/nodepool";
/// NodeClaim tag key.
pub const NODECLAIM: &str = "karpenter.sh/nodeclaim";
/// EC2NodeClass tag key.
pub const NODECLASS: &str = "karpenter.k8s.aws/ec2nodeclass";
/// EKS cluster-name tag key.
pub const EKS_CLUSTER_NAME: &str = "eks:eks-cluster-name";
/// The `Name` tag.
pub const NAME: &str = "Name";

/// `kubernetes.io/cluster/<cluster>`.
pub fn cluster_key(cluster: &str) -> String {
    format!("kubernetes.io/cluster/{cluster}")
}

/// Tags of an instance launched for a NodeClaim: the EC2NodeClass's own tags, then
/// Karpenter's, which win.
pub fn launch_tags(
    cluster: &str,
    nodepool: &str,
    nodeclaim: &str,
    nodeclass: &str,
    user: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut t: BTreeMap<String, String> = user.cloned().unwrap_or_default();
    t.insert(cluster_key(cluster), "owned".into());
    t.insert(EKS_CLUSTER_NAME.into(), cluster.into());
    t.insert(NODEPOOL.into(), nodepool.into());
    t.insert(NODECLASS.into(), nodeclass.into());
    t.insert(NODECLAIM.into(), nodeclaim.into());
    t.entry(NAME.into()).or_insert_with(|| nodeclaim.into());
    t
}
