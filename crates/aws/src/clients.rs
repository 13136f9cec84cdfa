//! The SDK clients, from the standard AWS configuration chain (environment, profile, IRSA
//! web identity, EKS Pod Identity and ECS container credentials, IMDS), with
//! `AWS_ENDPOINT_URL` honoured for emulators and a rustls (ring) HTTPS client, so no C
//! crypto library is compiled. The Pricing API is reached in its partition's region, as
//! upstream does (us-east-1; ap-south-1 for ap-*, eu-central-1 for eu-*, cn-northwest-1
//! for cn-*).

use aws_config::{BehaviorVersion, Region};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Every client the provider uses.
#[derive(Debug, Clone)]
pub struct Clients {
    /// EC2.
    pub ec2: aws_sdk_ec2::Client,
    /// SSM (AMI aliases).
    pub ssm: aws_sdk_ssm::Client,
    /// SQS (interruption queue).
    pub sqs: aws_sdk_sqs::Client,
    /// IAM (instance profiles).
    pub iam: aws_sdk_iam::Client,
    /// Pricing.
    pub pricing: aws_sdk_pricing::Client,
    /// EKS (DescribeCluster).
    pub eks: aws_sdk_eks::Client,
    /// The region.
    pub region: String,
}

/// The Pricing API's region for `region`.
pub fn pricing_region(region: &str) -> &'static str {
    if region.starts_with("ap-") {
        "ap-south-1"
    } else if region.starts_with("eu-") {
        "eu-central-1"
    } else if region.starts_with("cn-") {
        "cn-northwest-1"
    } else {
        "us-east-1"
    }
}

/// Load the configuration and make the clients.
pub async fn load() -> Clients {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http())
        .load()
        .await;
    from_config(&config)
}

/// Clients for an emulator at `endpoint` (moto in the tests): us-east-1, fixed test
/// credentials.
pub async fn emulator(endpoint: &str) -> Clients {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "testing", "testing", None, None, "emulator",
        ))
        .load()
        .await;
    from_config(&config)
}

fn http() -> aws_sdk_ec2::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

fn from_config(config: &aws_config::SdkConfig) -> Clients {
    let region = config
        .region()
        .map_or_else(|| "us-east-1".to_string(), ToString::to_string);
    let pricing_config = config
        .to_builder()
        .region(Region::new(pricing_region(&region)))
        .build();
    Clients {
        ec2: aws_sdk_ec2::Client::new(config),
        ssm: aws_sdk_ssm::Client::new(config),
        sqs: aws_sdk_sqs::Client::new(config),
        iam: aws_sdk_iam::Client::new(config),
        pricing: aws_sdk_pricing::Client::new(&pricing_config),
        eks: aws_sdk_eks::Client::new(config),
        region,
    }
}
