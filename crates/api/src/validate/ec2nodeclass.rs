//! EC2NodeClass validation: upstream's schema and CEL rules for selector terms, AMI aliases,
//! tags, kubelet settings, block devices and launch options.

use std::collections::BTreeMap;

use super::{Checker, FieldError, Validate};
use crate::cel::{EVICTION_SIGNALS, RESERVED_KEYS};
use crate::ec2nodeclass::{AMIFamily, AMISelectorTerm, BlockDeviceMapping, KubeletConfiguration};
use crate::{EC2NodeClass, patterns};

type Tags = Option<BTreeMap<String, String>>;

impl Validate for EC2NodeClass {
    fn validate(&self) -> Vec<FieldError> {
        let mut c = Checker::for_object(self);
        let s = &self.spec;

        // subnets
        let p = "spec.subnetSelectorTerms";
        terms_len(&mut c, p, s.subnet_selector_terms.len(), true);
        for (i, t) in s.subnet_selector_terms.iter().enumerate() {
            let tp = format!("{p}[{i}]");
            selector_tags(&mut c, &tp, &t.tags);
            at_least_one(
                &mut c,
                &tp,
                &[("tags", t.tags.is_some()), ("id", t.id.is_some())],
            );
            if let Some(id) = &t.id {
                c.pattern(
                    &format!("{tp}.id"),
                    id,
                    patterns::SUBNET_ID,
                    "a subnet id (subnet-...)",
                );
            }
        }

        let terms = &s.subnet_selector_terms;
        exclusive_in_all(
            &mut c,
            p,
            terms.iter().map(|t| t.id.is_some() && t.tags.is_some()),
            "'id' is mutually exclusive, cannot be set with a combination of other fields in a subnet selector term",
        );

        // security groups
        let p = "spec.securityGroupSelectorTerms";
        terms_len(&mut c, p, s.security_group_selector_terms.len(), true);
        for (i, t) in s.security_group_selector_terms.iter().enumerate() {
            let tp = format!("{p}[{i}]");
            selector_tags(&mut c, &tp, &t.tags);
            let fields = [
                ("tags", t.tags.is_some()),
                ("id", t.id.is_some()),
                ("name", t.name.is_some()),
            ];
            at_least_one(&mut c, &tp, &fields);
            if let Some(id) = &t.id {
                c.pattern(
                    &format!("{tp}.id"),
                    id,
                    patterns::SECURITY_GROUP_ID,
                    "a security group id (sg-...)",
                );
            }
        }

        let terms = &s.security_group_selector_terms;
        exclusive_in_all(
            &mut c,
            p,
            terms
                .iter()
                .map(|t| t.id.is_some() && (t.tags.is_some() || t.name.is_some())),
            "'id' is mutually exclusive, cannot be set with a combination of other fields in a security group selector term",
        );
        exclusive_in_all(
            &mut c,
            p,
            terms
                .iter()
                .map(|t| t.name.is_some() && (t.tags.is_some() || t.id.is_some())),
            "'name' is mutually exclusive, cannot be set with a combination of other fields in a security group selector term",
        );

        // capacity reservations
        if let Some(terms) = &s.capacity_reservation_selector_terms {
            let p = "spec.capacityReservationSelectorTerms";
            terms_len(&mut c, p, terms.len(), false);
            for (i, t) in terms.iter().enumerate() {
                let tp = format!("{p}[{i}]");
                selector_tags(&mut c, &tp, &t.tags);
                at_least_one(
                    &mut c,
                    &tp,
                    &[
                        ("tags", t.tags.is_some()),
                        ("id", t.id.is_some()),
                        ("instanceMatchCriteria", t.instance_match_criteria.is_some()),
                    ],
                );
                if let Some(id) = &t.id {
                    c.pattern(
                        &format!("{tp}.id"),
                        id,
                        patterns::CAPACITY_RESERVATION_ID,
                        "a capacity reservation id (cr-...)",
                    );
                }
                if let Some(owner) = &t.owner_id {
                    c.pattern(
                        &format!("{tp}.ownerID"),
                        owner,
                        patterns::OWNER_ID,
                        "a 12-digit AWS account id",
                    );
                }
                c.one_of(
                    &format!("{tp}.instanceMatchCriteria"),
                    t.instance_match_criteria.as_deref(),
                    &["open", "targeted"],
                );
            }
            exclusive_in_all(
                &mut c,
                p,
                terms.iter().map(|t| {
                    t.id.is_some()
                        && (t.tags.is_some()
                            || t.owner_id.is_some()
                            || t.instance_match_criteria.is_some())
                }),
                "'id' is mutually exclusive, cannot be set along with other fields in a capacity reservation selector term",
            );
        }

        ami_terms(&mut c, &s.ami_selector_terms, s.ami_family);

        // role / instance profile
        match (&s.role, &s.instance_profile) {
            (Some(_), Some(_)) | (None, None) => {
                c.error(
                    "spec",
                    "must specify exactly one of ['role', 'instanceProfile']",
                );
            }
            _ => {}
        }
        if s.role.as_deref() == Some("") {
            c.error("spec.role", "role cannot be empty");
        }
        if s.instance_profile.as_deref() == Some("") {
            c.error("spec.instanceProfile", "instanceProfile cannot be empty");
        }

        if let Some(tags) = &s.tags {
            for key in tags.keys() {
                let p = format!("spec.tags[{key}]");
                if key.is_empty() {
                    c.error("spec.tags", "empty tag keys aren't supported");
                } else if key.starts_with("kubernetes.io/cluster") {
                    c.error(
                        &p,
                        "tag contains a restricted tag matching kubernetes.io/cluster/",
                    );
                } else if [
                    "eks:eks-cluster-name",
                    "karpenter.sh/nodepool",
                    "karpenter.sh/nodeclaim",
                    "karpenter.k8s.aws/ec2nodeclass",
                ]
                .contains(&key.as_str())
                {
                    c.error(&p, format!("tag contains a restricted tag matching {key}"));
                }
            }
        }

        if let Some(k) = &s.kubelet {
            kubelet(&mut c, k);
        }
        if let Some(bdms) = &s.block_device_mappings {
            block_devices(&mut c, bdms);
        }
        if let Some(m) = &s.metadata_options {
            let p = "spec.metadataOptions";
            c.one_of(
                &format!("{p}.httpEndpoint"),
                m.http_endpoint.as_deref(),
                &["enabled", "disabled"],
            );
            c.one_of(
                &format!("{p}.httpProtocolIPv6"),
                m.http_protocol_ipv6.as_deref(),
                &["enabled", "disabled"],
            );
            c.range(
                &format!("{p}.httpPutResponseHopLimit"),
                m.http_put_response_hop_limit,
                1,
                64,
            );
            c.one_of(
                &format!("{p}.httpTokens"),
                m.http_tokens.as_deref(),
                &["required", "optional"],
            );
        }
        if let Some(pg) = &s.placement_group_selector {
            let p = "spec.placementGroupSelector";
            if pg.name.is_none() && pg.id.is_none() {
                c.error(p, "expected at least one, got none, ['name', 'id']");
            }
            if pg.name.is_some() && pg.id.is_some() {
                c.error(p, "'name' and 'id' are mutually exclusive");
            }
            if pg.name.as_deref() == Some("") {
                c.error(&format!("{p}.name"), "must be at least 1 character long");
            }
            if let Some(id) = &pg.id {
                c.pattern(
                    "spec.placementGroupSelector.id",
                    id,
                    patterns::PLACEMENT_GROUP_ID,
                    "a placement group id (pg-...)",
                );
            }
        }
        if let Some(nis) = &s.network_interfaces {
            c.max_items("spec.networkInterfaces", nis.len(), 150);
            for (i, ni) in nis.iter().enumerate() {
                let p = format!("spec.networkInterfaces[{i}]");
                c.range(
                    &format!("{p}.networkCardIndex"),
                    Some(ni.network_card_index.into()),
                    0,
                    i64::MAX,
                );
                c.range(
                    &format!("{p}.deviceIndex"),
                    Some(ni.device_index.into()),
                    0,
                    i64::MAX,
                );
                c.one_of(
                    &format!("{p}.interfaceType"),
                    Some(&ni.interface_type),
                    &["interface", "efa-only"],
                );
            }
            let primary = nis.iter().any(|n| {
                n.network_card_index == 0 && n.device_index == 0 && n.interface_type == "interface"
            });
            if !nis.is_empty() && !primary {
                c.error(
                    "spec.networkInterfaces",
                    "networkInterfaces must include a primary interface with interfaceType='interface'",
                );
            }
            let unique = nis.iter().all(|x| {
                let same_slot = nis
                    .iter()
                    .filter(|y| {
                        x.network_card_index == y.network_card_index
                            && x.device_index == y.device_index
                    })
                    .count();
                let efa_on_card = nis
                    .iter()
                    .filter(|y| {
                        x.network_card_index == y.network_card_index
                            && y.interface_type == "efa-only"
                    })
                    .count();
                same_slot == 1 && (x.interface_type != "efa-only" || efa_on_card == 1)
            });
            if !unique {
                c.error(
                    "spec.networkInterfaces",
                    "networkInterfaces must not have duplicate networkCardIndex and deviceIndex pairs, and can have at most one efa device per network card",
                );
            }
        }
        c.range(
            "spec.ipPrefixCount",
            s.ip_prefix_count.map(i64::from),
            0,
            i64::MAX,
        );
        if let Some(ct) = &s.connection_tracking {
            let p = "spec.connectionTracking";
            if ct.tcp_established_timeout.is_none()
                && ct.udp_stream_timeout.is_none()
                && ct.udp_timeout.is_none()
            {
                c.error(
                    p,
                    "at least one of tcpEstablishedTimeout, udpStreamTimeout, or udpTimeout must be set",
                );
            }
            c.range(
                &format!("{p}.tcpEstablishedTimeout"),
                ct.tcp_established_timeout.map(i64::from),
                60,
                432_000,
            );
            c.range(
                &format!("{p}.udpStreamTimeout"),
                ct.udp_stream_timeout.map(i64::from),
                60,
                180,
            );
            c.range(
                &format!("{p}.udpTimeout"),
                ct.udp_timeout.map(i64::from),
                30,
                60,
            );
        }
        if let Some(cpu) = &s.cpu_options {
            c.one_of(
                "spec.cpuOptions.nestedVirtualization",
                cpu.nested_virtualization.as_deref(),
                &["enabled", "disabled"],
            );
        }
        c.finish()
    }
}

fn terms_len(c: &mut Checker, path: &str, len: usize, required: bool) {
    if required && len == 0 {
        let field = path.rsplit('.').next().unwrap_or(path);
        c.error(path, format!("{field} cannot be empty"));
    }
    c.max_items(path, len, 30);
}

fn selector_tags(c: &mut Checker, term_path: &str, tags: &Tags) {
    let Some(tags) = tags else { return };
    let p = format!("{term_path}.tags");
    if tags.len() > 20 {
        c.error(&p, format!("must have at most 20 tags, got {}", tags.len()));
    }
    if tags.iter().any(|(k, v)| k.is_empty() || v.is_empty()) {
        c.error(&p, "empty tag keys or values aren't supported");
    }
}

/// At least one field is set, and each field in `exclusive` stands alone.
/// A selector term sets at least one of `fields`.
fn at_least_one(c: &mut Checker, path: &str, fields: &[(&str, bool)]) {
    if !fields.iter().any(|(_, set)| *set) {
        let names: Vec<String> = fields.iter().map(|(n, _)| format!("'{n}'")).collect();
        c.error(
            path,
            format!("expected at least one, got none, [{}]", names.join(", ")),
        );
    }
}

/// Upstream's mutual-exclusion rules read `!self.all(x, <both set>)`: the list is refused
/// only when every term (vacuously, an empty list) sets the exclusive field with another.
fn exclusive_in_all(
    c: &mut Checker,
    path: &str,
    mut both_set: impl Iterator<Item = bool>,
    message: &str,
) {
    if both_set.all(|b| b) {
        c.error(path, message);
    }
}

fn ami_terms(c: &mut Checker, terms: &[AMISelectorTerm], family: Option<AMIFamily>) {
    let p = "spec.amiSelectorTerms";
    if terms.is_empty() {
        c.error(p, "amiSelectorTerms needs at least one term");
    }
    c.max_items(p, terms.len(), 30);
    let mut alias_family = None;
    for (i, t) in terms.iter().enumerate() {
        let tp = format!("{p}[{i}]");
        selector_tags(c, &tp, &t.tags);
        let fields = [
            ("tags", t.tags.is_some()),
            ("id", t.id.is_some()),
            ("name", t.name.is_some()),
            ("alias", t.alias.is_some()),
            ("ssmParameter", t.ssm_parameter.is_some()),
        ];
        if !fields.iter().any(|(_, set)| *set) {
            c.error(
                &tp,
                "expected at least one, got none, ['tags', 'id', 'name', 'alias', 'ssmParameter']",
            );
        }
        let others = |skip: &str| {
            [
                ("alias", t.alias.is_some()),
                ("id", t.id.is_some()),
                ("tags", t.tags.is_some()),
                ("name", t.name.is_some()),
                ("owner", t.owner.is_some()),
            ]
            .iter()
            .any(|(n, set)| *n != skip && *set)
        };
        if t.id.is_some() && others("id") {
            c.error(&tp, "'id' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms");
        }
        if t.alias.is_some() && others("alias") {
            c.error(&tp, "'alias' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms");
        }
        if let Some(id) = &t.id {
            c.pattern(
                &format!("{tp}.id"),
                id,
                patterns::AMI_ID,
                "an AMI id (ami-...)",
            );
        }
        if let Some(alias) = &t.alias {
            let ap = format!("{tp}.alias");
            c.max_len(&ap, alias, 30);
            match alias.split_once('@') {
                Some((fam, version)) if !fam.is_empty() && fam.chars().all(|ch| ch.is_ascii_alphanumeric()) && !version.is_empty() => {
                    match AMIFamily::from_alias_family(fam) {
                        None => c.error(&ap, format!("family {fam:?} is not supported, must be one of the following: 'al2', 'al2023', 'bottlerocket', 'windows2019', 'windows2022', 'windows2025'")),
                        Some(f) => {
                            if fam.starts_with("windows") && version != "latest" {
                                c.error(&ap, "windows families may only specify version 'latest'");
                            }
                            alias_family = Some(f);
                        }
                    }
                }
                _ => c.error(&ap, format!("{alias:?} is improperly formatted, must match the format 'family@version'")),
            }
        }
    }
    if terms.len() > 1 && terms.iter().any(|t| t.alias.is_some()) {
        c.error(p, "'alias' is mutually exclusive, cannot be set with a combination of other amiSelectorTerms");
    }
    let has_alias = terms.iter().any(|t| t.alias.is_some());
    if !has_alias && family.is_none() {
        c.error(
            "spec.amiFamily",
            "must specify amiFamily if amiSelectorTerms does not contain an alias",
        );
    }
    if let (Some(from_alias), Some(set)) = (alias_family, family)
        && set != from_alias
        && set != AMIFamily::Custom
    {
        c.error("spec.amiFamily", format!("if set, amiFamily must be '{from_alias:?}' or 'Custom' when using an {from_alias:?} alias"));
    }
}

fn kubelet(c: &mut Checker, k: &KubeletConfiguration) {
    let p = "spec.kubelet";
    c.range(
        &format!("{p}.maxPods"),
        k.max_pods.map(i64::from),
        0,
        i64::MAX,
    );
    c.range(
        &format!("{p}.podsPerCore"),
        k.pods_per_core.map(i64::from),
        0,
        i64::MAX,
    );
    for (field, map) in [
        ("systemReserved", &k.system_reserved),
        ("kubeReserved", &k.kube_reserved),
    ] {
        for (key, value) in map.iter().flatten() {
            let fp = format!("{p}.{field}[{key}]");
            if !RESERVED_KEYS.contains(&key.as_str()) {
                c.error(
                    &fp,
                    format!(
                        "valid keys for {field} are ['cpu','memory','ephemeral-storage','pid']"
                    ),
                );
            }
            if value.starts_with('-') {
                c.error(
                    &fp,
                    format!("{field} value cannot be a negative resource quantity"),
                );
            } else {
                c.quantity(&fp, value);
            }
        }
    }
    for (field, map) in [
        ("evictionHard", &k.eviction_hard),
        ("evictionSoft", &k.eviction_soft),
    ] {
        for (key, value) in map.iter().flatten() {
            let fp = format!("{p}.{field}[{key}]");
            if !EVICTION_SIGNALS.contains(&key.as_str()) {
                c.error(
                    &fp,
                    format!("valid keys for {field} are {}", EVICTION_SIGNALS.join(", ")),
                );
            }
            eviction_threshold(c, &fp, value);
        }
    }
    for (key, value) in k.eviction_soft_grace_period.iter().flatten() {
        let fp = format!("{p}.evictionSoftGracePeriod[{key}]");
        if !EVICTION_SIGNALS.contains(&key.as_str()) {
            c.error(
                &fp,
                format!(
                    "valid keys for evictionSoftGracePeriod are {}",
                    EVICTION_SIGNALS.join(", ")
                ),
            );
        }
        if karpenter_model::Duration::parse(value).is_err() {
            c.error(&fp, format!("{value:?} is not a duration (e.g. 1m30s)"));
        }
    }
    let soft: Vec<&String> = k
        .eviction_soft
        .iter()
        .flatten()
        .map(|(key, _)| key)
        .collect();
    let grace: Vec<&String> = k
        .eviction_soft_grace_period
        .iter()
        .flatten()
        .map(|(key, _)| key)
        .collect();
    for key in soft.iter().filter(|key| !grace.contains(key)) {
        c.error(
            &format!("{p}.evictionSoft[{key}]"),
            "evictionSoft OwnerKey does not have a matching evictionSoftGracePeriod",
        );
    }
    for key in grace.iter().filter(|key| !soft.contains(key)) {
        c.error(
            &format!("{p}.evictionSoftGracePeriod[{key}]"),
            "evictionSoftGracePeriod OwnerKey does not have a matching evictionSoft",
        );
    }
    let (high, low) = (
        k.image_gc_high_threshold_percent,
        k.image_gc_low_threshold_percent,
    );
    c.range(
        &format!("{p}.imageGCHighThresholdPercent"),
        high.map(i64::from),
        0,
        100,
    );
    c.range(
        &format!("{p}.imageGCLowThresholdPercent"),
        low.map(i64::from),
        0,
        100,
    );
    if let (Some(h), Some(l)) = (high, low)
        && h <= l
    {
        c.error(
            p,
            "imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent",
        );
    }
}

/// An eviction threshold: a quantity or a percentage.
fn eviction_threshold(c: &mut Checker, path: &str, value: &str) {
    if let Some(pct) = value.strip_suffix('%') {
        match pct.parse::<f64>() {
            Ok(v) if (0.0..=100.0).contains(&v) => {}
            _ => c.error(
                path,
                format!("{value:?} is not a percentage from 0% to 100%"),
            ),
        }
    } else {
        c.quantity(path, value);
    }
}

fn block_devices(c: &mut Checker, bdms: &[BlockDeviceMapping]) {
    let p = "spec.blockDeviceMappings";
    c.max_items(p, bdms.len(), 50);
    if bdms.iter().filter(|b| b.root_volume).count() > 1 {
        c.error(p, "must have only one blockDeviceMappings with rootVolume");
    }
    for (i, b) in bdms.iter().enumerate() {
        let Some(ebs) = &b.ebs else { continue };
        let ep = format!("{p}[{i}].ebs");
        if ebs.snapshot_id.is_none() && ebs.volume_size.is_none() {
            c.error(&ep, "snapshotID or volumeSize must be defined");
        }
        let snapshot = ebs.snapshot_id.as_deref().is_some_and(|s| !s.is_empty());
        if ebs.volume_initialization_rate.is_some() && !snapshot {
            c.error(
                &ep,
                "snapshotID must be set when volumeInitializationRate is set",
            );
        }
        if let Some(size) = &ebs.volume_size {
            c.pattern(
                &format!("{ep}.volumeSize"),
                &size.0,
                patterns::VOLUME_SIZE,
                "an EBS volume size from 1Gi to 64Ti (e.g. 100Gi)",
            );
        }
        c.range(
            &format!("{ep}.volumeInitializationRate"),
            ebs.volume_initialization_rate.map(i64::from),
            100,
            300,
        );
        c.one_of(
            &format!("{ep}.volumeType"),
            ebs.volume_type.as_deref(),
            &["standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"],
        );
    }
}
