//! Resolving an EC2NodeClass against EC2, SSM and IAM, as upstream's nodeclass controller
//! does: subnets and security groups from the selector terms, AMIs from aliases (SSM public
//! parameters for the cluster's Kubernetes version), SSM parameters or id/name/tag terms
//! (DescribeImages), the newest non-deprecated image per architecture and variant, and the
//! instance profile (`spec.instanceProfile` as is, or one made for `spec.role`). What is
//! missing becomes the message of the condition that is not ready.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::Filter as Ec2Filter;
use karpenter_api::EC2NodeClass;
use karpenter_model::{Op, Requirement};

use crate::clients::Clients;
use crate::error::AwsError;
use crate::selectors::{self, Filter};
use crate::ssm;

/// A subnet of the class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetInfo {
    /// Subnet id.
    pub id: String,
    /// Zone.
    pub zone: String,
    /// Zone id.
    pub zone_id: Option<String>,
    /// Free IPv4 addresses.
    pub available_ips: i32,
}

/// An image of the class.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// AMI id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Creation date, as EC2 writes it (ISO 8601, so it sorts).
    pub created: String,
    /// Deprecated.
    pub deprecated: bool,
    /// What instance types it runs on.
    pub requirements: Vec<Requirement>,
}

/// What a class resolved to, and what is missing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    /// Subnets, by zone then id.
    pub subnets: Vec<SubnetInfo>,
    /// Security groups (id, name), by id.
    pub security_groups: Vec<(String, String)>,
    /// Images, the one to use for a type first.
    pub images: Vec<ImageInfo>,
    /// The instance profile.
    pub instance_profile: Option<String>,
    /// Active capacity reservations the class selects, by id.
    pub reservations: Vec<crate::reservations::ReservationInfo>,
    /// Condition type to the message of why it is not ready.
    pub problems: BTreeMap<&'static str, String>,
}

impl Resolved {
    /// Ready to launch from?
    pub fn ready(&self) -> bool {
        self.problems.is_empty()
    }

    /// The image for an instance type with `labels` (the first compatible one).
    pub fn image_for(&self, labels: &dyn Fn(&str) -> Option<String>) -> Option<&ImageInfo> {
        self.images.iter().find(|img| {
            img.requirements
                .iter()
                .all(|r| r.matches_value(labels(&r.key).as_deref()))
        })
    }
}

pub(crate) fn ec2_filters(filters: &[Filter]) -> Vec<Ec2Filter> {
    filters
        .iter()
        .map(|f| {
            Ec2Filter::builder()
                .name(&f.name)
                .set_values(Some(f.values.clone()))
                .build()
        })
        .collect()
}

async fn subnets(clients: &Clients, class: &EC2NodeClass) -> Result<Vec<SubnetInfo>, AwsError> {
    let mut out: BTreeMap<String, SubnetInfo> = BTreeMap::new();
    for term in selectors::subnet_filters(&class.spec.subnet_selector_terms) {
        let answer = clients
            .ec2
            .describe_subnets()
            .set_filters(Some(ec2_filters(&term)))
            .send()
            .await
            .map_err(|e| AwsError::sdk("DescribeSubnets", e))?;
        for s in answer.subnets() {
            let Some(id) = s.subnet_id() else { continue };
            out.insert(
                id.to_string(),
                SubnetInfo {
                    id: id.to_string(),
                    zone: s.availability_zone().unwrap_or_default().to_string(),
                    zone_id: s.availability_zone_id().map(str::to_string),
                    available_ips: s.available_ip_address_count().unwrap_or(0),
                },
            );
        }
    }
    let mut v: Vec<SubnetInfo> = out.into_values().collect();
    v.sort_by(|a, b| a.zone.cmp(&b.zone).then_with(|| a.id.cmp(&b.id)));
    Ok(v)
}

async fn security_groups(
    clients: &Clients,
    class: &EC2NodeClass,
) -> Result<Vec<(String, String)>, AwsError> {
    let mut out = BTreeMap::new();
    for term in selectors::security_group_filters(&class.spec.security_group_selector_terms) {
        let answer = clients
            .ec2
            .describe_security_groups()
            .set_filters(Some(ec2_filters(&term)))
            .send()
            .await
            .map_err(|e| AwsError::sdk("DescribeSecurityGroups", e))?;
        for g in answer.security_groups() {
            if let Some(id) = g.group_id() {
                out.insert(
                    id.to_string(),
                    g.group_name().unwrap_or_default().to_string(),
                );
            }
        }
    }
    Ok(out.into_iter().collect())
}

fn arch_of(image_arch: &str) -> &'static str {
    if image_arch == "arm64" {
        "arm64"
    } else {
        "amd64"
    }
}

async fn describe_images(
    clients: &Clients,
    ids: Vec<String>,
    filters: Vec<Ec2Filter>,
    owners: Vec<String>,
) -> Result<Vec<aws_sdk_ec2::types::Image>, AwsError> {
    let mut req = clients.ec2.describe_images();
    if !ids.is_empty() {
        req = req.set_image_ids(Some(ids));
    }
    if !filters.is_empty() {
        req = req.set_filters(Some(filters));
    }
    if !owners.is_empty() {
        req = req.set_owners(Some(owners));
    }
    let answer = req
        .send()
        .await
        .map_err(|e| AwsError::sdk("DescribeImages", e))?;
    Ok(answer.images().to_vec())
}

fn image_info(img: &aws_sdk_ec2::types::Image, requirements: Vec<Requirement>) -> ImageInfo {
    ImageInfo {
        id: img.image_id().unwrap_or_default().to_string(),
        name: img.name().unwrap_or_default().to_string(),
        created: img.creation_date().unwrap_or_default().to_string(),
        deprecated: img.deprecation_time().is_some_and(|d| !d.is_empty()),
        requirements,
    }
}

async fn parameter(clients: &Clients, name: &str) -> Result<Option<String>, AwsError> {
    match clients.ssm.get_parameter().name(name).send().await {
        Ok(p) => Ok(p.parameter().and_then(|p| p.value()).map(str::to_string)),
        Err(e) => {
            let e = AwsError::sdk("GetParameter", e);
            if e.code == "ParameterNotFound" {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// The images of `class` on Kubernetes `k8s`, ordered as upstream picks them.
pub async fn images(
    clients: &Clients,
    class: &EC2NodeClass,
    k8s: &str,
) -> Result<Vec<ImageInfo>, String> {
    // (requirements key) -> candidate images; the newest non-deprecated one per key wins
    let mut found: Vec<ImageInfo> = Vec::new();
    for term in &class.spec.ami_selector_terms {
        let mut by_id: Vec<(String, Vec<Requirement>)> = Vec::new();
        if let Some(alias) = &term.alias {
            let queries = ssm::queries(alias, k8s).map_err(|e| e.to_string())?;
            for q in queries {
                if let Some(id) = parameter(clients, &q.parameter)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    by_id.push((id, q.requirements()));
                }
            }
        } else if let Some(name) = &term.ssm_parameter
            && let Some(id) = parameter(clients, name).await.map_err(|e| e.to_string())?
        {
            by_id.push((id, Vec::new()));
        }
        if !by_id.is_empty() {
            let ids: Vec<String> = by_id.iter().map(|(id, _)| id.clone()).collect();
            let described = describe_images(clients, ids, Vec::new(), Vec::new())
                .await
                .map_err(|e| e.to_string())?;
            for (id, reqs) in by_id {
                if let Some(img) = described.iter().find(|i| i.image_id() == Some(id.as_str())) {
                    let mut reqs = reqs;
                    if reqs.is_empty() {
                        let arch = img.architecture().map_or("x86_64", |a| a.as_str());
                        reqs.push(Requirement::new(
                            karpenter_model::wellknown::labels::ARCH,
                            Op::In,
                            [arch_of(arch)],
                        ));
                    }
                    found.push(image_info(img, reqs));
                }
            }
        }
    }
    for q in selectors::image_queries(&class.spec.ami_selector_terms) {
        let described = describe_images(clients, Vec::new(), ec2_filters(&q.filters), q.owners)
            .await
            .map_err(|e| e.to_string())?;
        for img in &described {
            let arch = img.architecture().map_or("x86_64", |a| a.as_str());
            found.push(image_info(
                img,
                vec![Requirement::new(
                    karpenter_model::wellknown::labels::ARCH,
                    Op::In,
                    [arch_of(arch)],
                )],
            ));
        }
    }
    found.sort_by(|a, b| {
        a.deprecated
            .cmp(&b.deprecated)
            .then_with(|| b.created.cmp(&a.created))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut seen = BTreeSet::new();
    found.retain(|img| seen.insert(format!("{:?}", img.requirements)));
    Ok(found)
}

/// Resolve everything but the instance profile (see `profile`).
pub async fn resolve(clients: &Clients, class: &EC2NodeClass, k8s: &str) -> Resolved {
    let mut r = Resolved::default();
    match subnets(clients, class).await {
        Ok(s) if s.is_empty() => {
            r.problems.insert(
                "SubnetsReady",
                "SubnetSelector did not match any Subnets".into(),
            );
        }
        Ok(s) => r.subnets = s,
        Err(e) => {
            r.problems.insert("SubnetsReady", e.to_string());
        }
    }
    match security_groups(clients, class).await {
        Ok(s) if s.is_empty() => {
            r.problems.insert(
                "SecurityGroupsReady",
                "SecurityGroupSelector did not match any SecurityGroups".into(),
            );
        }
        Ok(s) => r.security_groups = s,
        Err(e) => {
            r.problems.insert("SecurityGroupsReady", e.to_string());
        }
    }
    match images(clients, class, k8s).await {
        Ok(i) if i.is_empty() => {
            r.problems
                .insert("AMIsReady", "AMISelector did not match any AMIs".into());
        }
        Ok(i) => r.images = i,
        Err(e) => {
            r.problems.insert("AMIsReady", e);
        }
    }
    match crate::reservations::resolve(clients, class).await {
        Ok(v) => r.reservations = v,
        Err(e) => {
            r.problems
                .insert("CapacityReservationsReady", e.to_string());
        }
    }
    r
}
