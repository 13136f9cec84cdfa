//! The provider's errors: an AWS API error keeps the operation, the error code and the
//! message, so callers can tell capacity errors, missing objects and throttling apart.

use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};

/// An AWS call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {code}: {message}")]
pub struct AwsError {
    /// The operation (`CreateFleet`).
    pub operation: &'static str,
    /// The error code (`InvalidLaunchTemplateName.NotFoundException`), empty when none.
    pub code: String,
    /// What AWS (or the transport) said.
    pub message: String,
}

impl AwsError {
    /// Wrap an SDK error of `operation`.
    pub fn sdk<E>(operation: &'static str, e: E) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error,
    {
        AwsError {
            operation,
            code: e.code().unwrap_or_default().to_string(),
            message: e
                .message()
                .map_or_else(|| DisplayErrorContext(&e).to_string(), str::to_string),
        }
    }

    /// An error without an SDK cause.
    pub fn other(operation: &'static str, message: impl Into<String>) -> AwsError {
        AwsError {
            operation,
            code: String::new(),
            message: message.into(),
        }
    }

    /// Does the code say the object does not exist?
    pub fn is_not_found(&self) -> bool {
        self.code.contains("NotFound") || self.code == "NoSuchEntity"
    }
}

impl From<AwsError> for karpenter_cloud::CloudError {
    fn from(e: AwsError) -> Self {
        karpenter_cloud::CloudError::Other(e.to_string())
    }
}
