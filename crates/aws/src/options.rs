//! The AWS provider's settings (upstream's environment variables, reference 6.11).

use karpenter_model::time::{MINUTE, Time};

/// Settings of the AWS provider.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsOptions {
    /// `CLUSTER_NAME`.
    pub cluster_name: String,
    /// `CLUSTER_ENDPOINT` (else DescribeCluster).
    pub cluster_endpoint: Option<String>,
    /// `CLUSTER_CA_BUNDLE` (else DescribeCluster).
    pub cluster_ca_bundle: Option<String>,
    /// The cluster DNS address for kubelets (else the `kube-dns` Service's cluster IP).
    pub cluster_dns: Option<String>,
    /// `ISOLATED_VPC`: no Pricing API calls.
    pub isolated_vpc: bool,
    /// `INTERRUPTION_QUEUE`: the SQS queue name.
    pub interruption_queue: Option<String>,
    /// `RESERVED_ENIS`.
    pub reserved_enis: i64,
    /// `VM_MEMORY_OVERHEAD_PERCENT`.
    pub vm_memory_overhead_percent: f64,
    /// `AMI_REFRESH_INTERVAL`.
    pub ami_refresh: Time,
    /// `SUBNET_REFRESH_INTERVAL`.
    pub subnet_refresh: Time,
}

impl Default for AwsOptions {
    fn default() -> Self {
        AwsOptions {
            cluster_name: String::new(),
            cluster_endpoint: None,
            cluster_ca_bundle: None,
            cluster_dns: None,
            isolated_vpc: false,
            interruption_queue: None,
            reserved_enis: 0,
            vm_memory_overhead_percent: 0.075,
            ami_refresh: MINUTE,
            subnet_refresh: MINUTE,
        }
    }
}
