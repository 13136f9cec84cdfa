//! AMI aliases (`al2023@latest`, `bottlerocket@v1.20.0`, `windows2022@latest`) to the SSM
//! public parameters that hold their image ids, per architecture and variant, as upstream's
//! AMI families name them; each query carries the node requirements an image of that
//! architecture and variant is compatible with.

use karpenter_api::ec2nodeclass::AMIFamily;
use karpenter_model::{Op, Requirement};

/// The GPU-count label a NVIDIA variant needs.
pub const GPU_COUNT: &str = "karpenter.k8s.aws/instance-gpu-count";
/// The accelerator-count label a Neuron variant needs.
pub const ACCELERATOR_COUNT: &str = "karpenter.k8s.aws/instance-accelerator-count";

/// An image variant of an AMI family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Variant {
    /// No accelerator.
    Standard,
    /// NVIDIA GPUs.
    Nvidia,
    /// AWS Neuron accelerators.
    Neuron,
}

impl Variant {
    /// The requirements of instance types this variant runs on.
    pub fn requirements(self) -> Vec<Requirement> {
        let none: [&str; 0] = [];
        match self {
            Variant::Standard => vec![
                Requirement::new(GPU_COUNT, Op::DoesNotExist, none),
                Requirement::new(ACCELERATOR_COUNT, Op::DoesNotExist, none),
            ],
            Variant::Nvidia => vec![Requirement::new(GPU_COUNT, Op::Exists, none)],
            Variant::Neuron => vec![Requirement::new(ACCELERATOR_COUNT, Op::Exists, none)],
        }
    }
}

/// One SSM parameter to read and what an image from it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The parameter name.
    pub parameter: String,
    /// `amd64` or `arm64` (the `kubernetes.io/arch` value).
    pub arch: &'static str,
    /// The variant.
    pub variant: Variant,
}

impl Query {
    /// The node requirements of an image found by this query.
    pub fn requirements(&self) -> Vec<Requirement> {
        let mut r = vec![Requirement::new(
            karpenter_model::wellknown::labels::ARCH,
            Op::In,
            [self.arch],
        )];
        r.extend(self.variant.requirements());
        r
    }
}

/// Why an alias cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    /// The family part is not a known alias family.
    #[error(
        "amiSelectorTerms alias {0:?}: unknown family (al2, al2023, bottlerocket, windows2019, windows2022, windows2025)"
    )]
    Family(String),
    /// Windows aliases only resolve `latest`.
    #[error("amiSelectorTerms alias {0:?}: Windows aliases support only @latest")]
    WindowsVersion(String),
    /// AL2 has no images for this Kubernetes version.
    #[error(
        "amiSelectorTerms alias {alias:?}: AL2 has no EKS-optimized AMIs for Kubernetes {k8s} (1.33 and later)"
    )]
    Al2Dropped {
        /// The alias.
        alias: String,
        /// The cluster's Kubernetes version.
        k8s: String,
    },
}

/// The family and version of `alias` (`al2023@v20240807`; no `@` means `latest`).
pub fn parse_alias(alias: &str) -> Result<(AMIFamily, String), AliasError> {
    let (family, version) = alias.split_once('@').unwrap_or((alias, "latest"));
    let family =
        AMIFamily::from_alias_family(family).ok_or_else(|| AliasError::Family(alias.into()))?;
    Ok((family, version.to_string()))
}

fn minor(k8s: &str) -> u32 {
    k8s.split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// The SSM parameters for `alias` on Kubernetes `k8s` (`1.34`).
pub fn queries(alias: &str, k8s: &str) -> Result<Vec<Query>, AliasError> {
    let (family, version) = parse_alias(alias)?;
    let latest = version == "latest";
    let q = |parameter: String, arch, variant| Query {
        parameter,
        arch,
        variant,
    };
    let mut out = Vec::new();
    match family {
        AMIFamily::AL2023 => {
            for (arch, ssm_arch, variants) in [
                (
                    "amd64",
                    "x86_64",
                    &[Variant::Standard, Variant::Nvidia, Variant::Neuron][..],
                ),
                ("arm64", "arm64", &[Variant::Standard, Variant::Nvidia][..]),
            ] {
                for &v in variants {
                    let name = match v {
                        Variant::Standard => "standard",
                        Variant::Nvidia => "nvidia",
                        Variant::Neuron => "neuron",
                    };
                    let leaf = if latest {
                        "recommended".to_string()
                    } else {
                        format!("amazon-eks-node-al2023-{ssm_arch}-{name}-{k8s}-{version}")
                    };
                    out.push(q(
                        format!(
                            "/aws/service/eks/optimized-ami/{k8s}/amazon-linux-2023/{ssm_arch}/{name}/{leaf}/image_id"
                        ),
                        arch,
                        v,
                    ));
                }
            }
        }
        AMIFamily::AL2 => {
            if minor(k8s) >= 33 {
                return Err(AliasError::Al2Dropped {
                    alias: alias.into(),
                    k8s: k8s.into(),
                });
            }
            for (suffix, arch, variants) in [
                ("", "amd64", &[Variant::Standard][..]),
                ("-gpu", "amd64", &[Variant::Nvidia, Variant::Neuron][..]),
                ("-arm64", "arm64", &[Variant::Standard][..]),
            ] {
                let leaf = if latest {
                    "recommended".to_string()
                } else {
                    format!("amazon-eks{suffix}-node-{k8s}-{version}")
                };
                for &v in variants {
                    out.push(q(
                        format!("/aws/service/eks/optimized-ami/{k8s}/amazon-linux-2{suffix}/{leaf}/image_id"),
                        arch,
                        v,
                    ));
                }
            }
        }
        AMIFamily::Bottlerocket => {
            let version = if latest {
                "latest".to_string()
            } else {
                version.trim_start_matches('v').to_string()
            };
            for (arch, ssm_arch) in [("amd64", "x86_64"), ("arm64", "arm64")] {
                for (suffix, v) in [("", Variant::Standard), ("-nvidia", Variant::Nvidia)] {
                    out.push(q(
                        format!(
                            "/aws/service/bottlerocket/aws-k8s-{k8s}{suffix}/{ssm_arch}/{version}/image_id"
                        ),
                        arch,
                        v,
                    ));
                }
            }
        }
        AMIFamily::Windows2019 | AMIFamily::Windows2022 | AMIFamily::Windows2025 => {
            if !latest {
                return Err(AliasError::WindowsVersion(alias.into()));
            }
            let year = match family {
                AMIFamily::Windows2019 => "2019",
                AMIFamily::Windows2022 => "2022",
                _ => "2025",
            };
            out.push(q(
                format!(
                    "/aws/service/ami-windows-latest/Windows_Server-{year}-English-Core-EKS_Optimized-{k8s}/image_id"
                ),
                "amd64",
                Variant::Standard,
            ));
        }
        AMIFamily::Custom => return Err(AliasError::Family(alias.into())),
    }
    Ok(out)
}
