//! EC2NodeClass selector terms to EC2 Describe filters, as upstream builds them: terms are
//! ORed (one Describe call each), a term's fields ANDed; a tag whose value is `*` matches any
//! value of that key; ids and security-group names are exact.

use std::collections::BTreeMap;

use karpenter_api::ec2nodeclass::{
    AMISelectorTerm, CapacityReservationSelectorTerm, SecurityGroupSelectorTerm, SubnetSelectorTerm,
};

/// One EC2 filter: a name and the values any of which matches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Filter {
    /// Filter name (`tag:Name`, `subnet-id`, ...).
    pub name: String,
    /// Values.
    pub values: Vec<String>,
}

impl Filter {
    fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Filter {
            name: name.into(),
            values: vec![value.into()],
        }
    }
}

fn tag_filters(tags: Option<&BTreeMap<String, String>>) -> Vec<Filter> {
    tags.into_iter()
        .flatten()
        .map(|(k, v)| {
            if v == "*" {
                Filter::new("tag-key", k.clone())
            } else {
                Filter::new(format!("tag:{k}"), v.clone())
            }
        })
        .collect()
}

/// The filters of each subnet term.
pub fn subnet_filters(terms: &[SubnetSelectorTerm]) -> Vec<Vec<Filter>> {
    terms
        .iter()
        .map(|t| {
            let mut f = tag_filters(t.tags.as_ref());
            if let Some(id) = &t.id {
                f.push(Filter::new("subnet-id", id.clone()));
            }
            f
        })
        .collect()
}

/// The filters of each security-group term.
pub fn security_group_filters(terms: &[SecurityGroupSelectorTerm]) -> Vec<Vec<Filter>> {
    terms
        .iter()
        .map(|t| {
            let mut f = tag_filters(t.tags.as_ref());
            if let Some(id) = &t.id {
                f.push(Filter::new("group-id", id.clone()));
            }
            if let Some(name) = &t.name {
                f.push(Filter::new("group-name", name.clone()));
            }
            f
        })
        .collect()
}

/// One DescribeImages query of an AMI term (alias and SSM terms are resolved elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageQuery {
    /// Filters.
    pub filters: Vec<Filter>,
    /// Owners (`self` and `amazon` when a name is given without one).
    pub owners: Vec<String>,
}

/// The DescribeImages query of each id/name/tags term.
pub fn image_queries(terms: &[AMISelectorTerm]) -> Vec<ImageQuery> {
    terms
        .iter()
        .filter(|t| t.alias.is_none() && t.ssm_parameter.is_none())
        .map(|t| {
            let mut filters = tag_filters(t.tags.as_ref());
            if let Some(id) = &t.id {
                filters.push(Filter::new("image-id", id.clone()));
            }
            if let Some(name) = &t.name {
                filters.push(Filter::new("name", name.clone()));
            }
            let owners = match (&t.owner, &t.name) {
                (Some(o), _) => vec![o.clone()],
                (None, Some(_)) => vec!["self".into(), "amazon".into()],
                (None, None) => Vec::new(),
            };
            ImageQuery { filters, owners }
        })
        .collect()
}

/// The DescribeCapacityReservations filters of each capacity-reservation term (tags, id,
/// owner, match criteria), always limited to active reservations.
pub fn capacity_reservation_filters(terms: &[CapacityReservationSelectorTerm]) -> Vec<Vec<Filter>> {
    terms
        .iter()
        .map(|t| {
            let mut f = tag_filters(t.tags.as_ref());
            if let Some(id) = &t.id {
                f.push(Filter::new("capacity-reservation-id", id.clone()));
            }
            if let Some(owner) = &t.owner_id {
                f.push(Filter::new("owner-id", owner.clone()));
            }
            if let Some(m) = &t.instance_match_criteria {
                f.push(Filter::new("instance-match-criteria", m.clone()));
            }
            f.push(Filter::new("state", "active"));
            f
        })
        .collect()
}
