//! The launch calls: launch templates created on first use (an existing one of the same
//! name is the same options), CreateFleet `instant` for one instance, and the answer read
//! back as the instance launched or the capacity errors of each override.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    CapacityReservationTarget, DefaultTargetCapacityType, FleetLaunchTemplateConfigRequest,
    FleetLaunchTemplateOverridesRequest, FleetLaunchTemplateSpecificationRequest,
    FleetOnDemandAllocationStrategy, FleetType, InstanceType as Ec2Type,
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateCapacityReservationSpecificationRequest,
    LaunchTemplateEbsBlockDeviceRequest, LaunchTemplateHttpTokensState,
    LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMarketOptionsRequest, LaunchTemplateInstanceMetadataEndpointState,
    LaunchTemplateInstanceMetadataOptionsRequest, LaunchTemplateInstanceMetadataProtocolIpv6,
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest, LaunchTemplatesMonitoringRequest,
    MarketType, OnDemandOptionsRequest, RequestLaunchTemplateData, ResourceType,
    SpotAllocationStrategy, SpotOptionsRequest, Tag, TagSpecification,
    TargetCapacitySpecificationRequest, VolumeType,
};

use crate::clients::Clients;
use crate::error::AwsError;
use crate::fleet::FleetRequest;
use crate::template::TemplateOptions;

fn tag_list(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn spec(resource: ResourceType, tags: &BTreeMap<String, String>) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .set_tags(Some(tag_list(tags)))
        .build()
}

/// The template data of `o`.
fn data(o: &TemplateOptions) -> RequestLaunchTemplateData {
    let devices = o
        .block_devices
        .iter()
        .map(|b| {
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name(&b.device_name)
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .volume_size(b.volume_size_gib)
                        .volume_type(VolumeType::from(b.volume_type.as_str()))
                        .encrypted(b.encrypted)
                        .delete_on_termination(b.delete_on_termination)
                        .set_iops(b.iops)
                        .set_throughput(b.throughput)
                        .set_kms_key_id(b.kms_key_id.clone())
                        .set_snapshot_id(b.snapshot_id.clone())
                        .build(),
                )
                .build()
        })
        .collect();
    let mut d = RequestLaunchTemplateData::builder()
        .image_id(&o.image_id)
        .user_data(&o.user_data)
        .iam_instance_profile(
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .name(&o.instance_profile)
                .build(),
        )
        .set_block_device_mappings(Some(devices))
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::from(
                    o.metadata.http_endpoint.as_str(),
                ))
                .http_protocol_ipv6(LaunchTemplateInstanceMetadataProtocolIpv6::from(
                    o.metadata.http_protocol_ipv6.as_str(),
                ))
                .http_put_response_hop_limit(o.metadata.http_put_response_hop_limit)
                .http_tokens(LaunchTemplateHttpTokensState::from(
                    o.metadata.http_tokens.as_str(),
                ))
                .build(),
        )
        .monitoring(
            LaunchTemplatesMonitoringRequest::builder()
                .enabled(o.detailed_monitoring)
                .build(),
        );
    if let Some(r) = &o.capacity_reservation {
        d = d.capacity_reservation_specification(
            LaunchTemplateCapacityReservationSpecificationRequest::builder()
                .capacity_reservation_target(
                    CapacityReservationTarget::builder()
                        .capacity_reservation_id(&r.id)
                        .build(),
                )
                .build(),
        );
        if r.capacity_block {
            d = d.instance_market_options(
                LaunchTemplateInstanceMarketOptionsRequest::builder()
                    .market_type(MarketType::CapacityBlock)
                    .build(),
            );
        }
    }
    match o.associate_public_ip {
        // the security groups go on the interface when it is spelled out
        Some(public) => {
            d = d.network_interfaces(
                LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                    .device_index(0)
                    .associate_public_ip_address(public)
                    .set_groups(Some(o.security_groups.clone()))
                    .build(),
            );
        }
        None => d = d.set_security_group_ids(Some(o.security_groups.clone())),
    }
    d.build()
}

/// Create the template of `o` unless it exists; its name.
pub async fn ensure_template(clients: &Clients, o: &TemplateOptions) -> Result<String, AwsError> {
    let name = o.name();
    let found = clients
        .ec2
        .describe_launch_templates()
        .launch_template_names(&name)
        .send()
        .await;
    match found {
        Ok(a) if !a.launch_templates().is_empty() => return Ok(name),
        Ok(_) => {}
        Err(e) => {
            let e = AwsError::sdk("DescribeLaunchTemplates", e);
            if !e.is_not_found() && !e.code.contains("InvalidLaunchTemplateName") {
                return Err(e);
            }
        }
    }
    let created = clients
        .ec2
        .create_launch_template()
        .launch_template_name(&name)
        .launch_template_data(data(o))
        .tag_specifications(spec(ResourceType::LaunchTemplate, &o.tags))
        .send()
        .await;
    match created {
        Ok(_) => Ok(name),
        Err(e) => {
            let e = AwsError::sdk("CreateLaunchTemplate", e);
            if e.code.contains("AlreadyExists") {
                Ok(name)
            } else {
                Err(e)
            }
        }
    }
}

/// What CreateFleet did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FleetOutcome {
    /// The instance launched: id, type, zone.
    pub launched: Option<(String, String, String)>,
    /// Per-override errors: code, message, instance type, zone.
    pub errors: Vec<(String, String, String, String)>,
}

/// Send `r`.
pub async fn create_fleet(clients: &Clients, r: &FleetRequest) -> Result<FleetOutcome, AwsError> {
    let configs = r
        .configs
        .iter()
        .map(|c| {
            FleetLaunchTemplateConfigRequest::builder()
                .launch_template_specification(
                    FleetLaunchTemplateSpecificationRequest::builder()
                        .launch_template_name(&c.launch_template)
                        .version("$Latest")
                        .build(),
                )
                .set_overrides(Some(
                    c.overrides
                        .iter()
                        .map(|o| {
                            FleetLaunchTemplateOverridesRequest::builder()
                                .instance_type(Ec2Type::from(o.instance_type.as_str()))
                                .subnet_id(&o.subnet_id)
                                .availability_zone(&o.zone)
                                .set_priority(o.priority)
                                .build()
                        })
                        .collect(),
                ))
                .build()
        })
        .collect();
    let spot = r.capacity_type == "spot";
    let mut tag_specs = vec![
        spec(ResourceType::Instance, &r.tags),
        spec(ResourceType::Volume, &r.tags),
        spec(ResourceType::Fleet, &r.tags),
    ];
    if spot {
        tag_specs.push(spec(ResourceType::SpotInstancesRequest, &r.tags));
    }
    let mut req = clients
        .ec2
        .create_fleet()
        .r#type(FleetType::Instant)
        .client_token(&r.client_token)
        .set_launch_template_configs(Some(configs))
        .target_capacity_specification(
            TargetCapacitySpecificationRequest::builder()
                .total_target_capacity(1)
                .default_target_capacity_type(match r.capacity_type.as_str() {
                    "spot" => DefaultTargetCapacityType::Spot,
                    "capacity-block" => DefaultTargetCapacityType::CapacityBlock,
                    _ => DefaultTargetCapacityType::OnDemand,
                })
                .build(),
        )
        .set_tag_specifications(Some(tag_specs));
    req = if spot {
        req.spot_options(
            SpotOptionsRequest::builder()
                .allocation_strategy(SpotAllocationStrategy::PriceCapacityOptimized)
                .build(),
        )
    } else {
        req.on_demand_options(
            OnDemandOptionsRequest::builder()
                .allocation_strategy(FleetOnDemandAllocationStrategy::LowestPrice)
                .build(),
        )
    };
    let answer = req
        .send()
        .await
        .map_err(|e| AwsError::sdk("CreateFleet", e))?;
    let mut out = FleetOutcome::default();
    for i in answer.instances() {
        let Some(id) = i.instance_ids().first() else {
            continue;
        };
        let o = i
            .launch_template_and_overrides()
            .and_then(|l| l.overrides());
        let ty = i
            .instance_type()
            .or_else(|| o.and_then(|o| o.instance_type()))
            .map(|t| t.as_str().to_string())
            .unwrap_or_default();
        let zone = o
            .and_then(|o| o.availability_zone())
            .unwrap_or_default()
            .to_string();
        out.launched = Some((id.clone(), ty, zone));
        break;
    }
    for e in answer.errors() {
        let o = e
            .launch_template_and_overrides()
            .and_then(|l| l.overrides());
        out.errors.push((
            e.error_code().unwrap_or_default().to_string(),
            e.error_message().unwrap_or_default().to_string(),
            o.and_then(|o| o.instance_type())
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            o.and_then(|o| o.availability_zone())
                .unwrap_or_default()
                .to_string(),
        ));
    }
    Ok(out)
}
