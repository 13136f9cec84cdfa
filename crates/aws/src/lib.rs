//! The AWS cloud provider (upstream's aws/karpenter-provider-aws) on aws-sdk-rust, behind
//! the same CloudProvider port as the simulated and KWOK providers: EC2NodeClass resolution
//! and status, instance types and prices from the live APIs, launch templates and
//! CreateFleet, user data per AMI family, the interruption queue, and the IAM policy the
//! controller needs. The pure parts (aliases, user data, fleet requests, selectors,
//! interruption messages) are their own modules and tested without AWS.
#![deny(missing_docs)]

pub mod catalog;
pub mod classstatus;
pub mod clients;
pub mod describe;
pub mod discover;
pub mod error;
pub mod fleet;
pub mod instances;
pub mod interruption;
pub mod launch;
pub mod nodeclass;
pub mod options;
pub mod policy;
pub mod pricing;
pub mod profile;
pub mod provider;
pub mod queue;
pub mod reservations;
pub mod selectors;
pub mod ssm;
pub mod tags;
pub mod template;
pub mod userdata;

pub use options::AwsOptions;
pub use provider::AwsCloud;
