//! Launching NodeClaims: each request is prepared against the resolved EC2NodeClass (the
//! offerings it allows, an AMI per type, a launch template per (AMI, max pods) group, a
//! subnet per zone with free addresses), then every prepared launch is sent at once (at most
//! `CONCURRENT_FLEETS` CreateFleet calls in flight), and each answer is read back as the
//! instance, or as capacity errors for the insufficient-capacity cache. A launch template
//! EC2 no longer has (deleted behind our back) is made again and the launch tried once more,
//! as upstream does on `InvalidLaunchTemplateName.NotFoundException`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use base64::Engine;
use futures::StreamExt;
use karpenter_api::ec2nodeclass::AMIFamily;
use karpenter_cloud::launch::choices;
use karpenter_cloud::{
    CloudError, CloudProvider, Instance, InstanceState, LaunchRequest, OfferingKey,
};
use karpenter_model::InstanceType;
use karpenter_model::time::Time;

use super::AwsCloud;
use crate::clients::Clients;
use crate::error::AwsError;
use crate::fleet::{self, Candidate, FleetRequest};
use crate::launch::{self, FleetOutcome};
use crate::template::{self, TemplateOptions};
use crate::{instances, tags, userdata};

/// Most CreateFleet calls one pass has in flight.
pub const CONCURRENT_FLEETS: usize = 16;

/// A launch ready to send.
pub(super) struct Prepared {
    claim: String,
    node_pool: String,
    capacity_type: String,
    templates: Vec<TemplateOptions>,
    body: FleetRequest,
    /// Image id by instance type.
    images: BTreeMap<String, String>,
    /// Subnet chosen in each zone.
    subnets: BTreeMap<String, String>,
    catalog: Arc<Vec<InstanceType>>,
}

/// Is this the error of a launch template EC2 does not have?
fn template_missing(code: &str) -> bool {
    code.contains("InvalidLaunchTemplateName") || code.contains("InvalidLaunchTemplateId")
}

impl AwsCloud {
    /// Everything one launch needs, or why it cannot be made.
    fn prepare(&self, request: &LaunchRequest, now: Time) -> Result<Prepared, CloudError> {
        let pool = self
            .pool(&request.node_pool)
            .ok_or_else(|| CloudError::Invalid {
                claim: request.claim.clone(),
                message: format!("NodePool {} not found", request.node_pool),
            })?;
        let class_name = pool.spec.template.spec.node_class_ref.name.clone();
        let not_ready = |m: String| CloudError::NodeClassNotReady {
            class: class_name.clone(),
            message: m,
        };
        let class = self
            .cache
            .lock()
            .nodeclasses
            .get(&class_name)
            .cloned()
            .ok_or_else(|| not_ready("not found".into()))?;
        let resolved = self
            .classes
            .get(&class_name)
            .ok_or_else(|| not_ready("not resolved yet".into()))?;
        if !resolved.ready() {
            let m: Vec<String> = resolved.problems.values().cloned().collect();
            return Err(not_ready(m.join("; ")));
        }
        let family = class
            .spec
            .resolved_ami_family()
            .unwrap_or(AMIFamily::AL2023);
        let catalog = self.instance_types_for(&request.node_pool, now);
        let zones: BTreeSet<&str> = resolved.subnets.iter().map(|s| s.zone.as_str()).collect();
        let picked = choices(request, &catalog, &|_, o| zones.contains(o.zone.as_str()))?;
        let capacity_type = picked
            .first()
            .map(|c| c.offering.capacity_type.clone())
            .unwrap_or_else(|| "on-demand".into());
        let mut sgs: Vec<String> = resolved
            .security_groups
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        sgs.sort();
        let instance_tags = tags::launch_tags(
            &self.options.cluster_name,
            &request.node_pool,
            &request.claim,
            &class_name,
            class.spec.tags.as_ref(),
        );
        let mut lt_tags = instance_tags.clone();
        lt_tags.remove(tags::NODECLAIM);
        lt_tags.remove(tags::NAME);
        // the subnet of each zone with the most addresses left once in-flight launches
        // are counted; a zone whose subnets are full is not offered
        let mut subnets: BTreeMap<String, String> = BTreeMap::new();
        for zone in &zones {
            let best = resolved
                .subnets
                .iter()
                .filter(|s| s.zone == *zone)
                .map(|s| (self.free_ips(&s.id, s.available_ips), s))
                .filter(|(free, _)| *free > 0)
                .max_by_key(|(free, _)| *free);
            if let Some((_, s)) = best {
                subnets.insert(s.zone.clone(), s.id.clone());
            }
        }
        let mut groups: BTreeMap<(String, i64, Option<String>), TemplateOptions> = BTreeMap::new();
        // a reserved launch targets its reservation through the template; a capacity block
        // also changes the fleet's target capacity type
        let is_block = |id: &str| {
            resolved
                .reservations
                .iter()
                .any(|r| r.id == id && r.reservation_type == "capacity-block")
        };
        let capacity_block = picked
            .iter()
            .any(|c| c.offering.reservation_id.as_deref().is_some_and(is_block));
        let mut images = BTreeMap::new();
        let mut candidates = Vec::new();
        for c in &picked {
            let t = c.instance_type;
            let label = |k: &str| t.label(k).map(str::to_string);
            let Some(image) = resolved.image_for(&label) else {
                continue;
            };
            let Some(subnet) = subnets.get(&c.offering.zone) else {
                continue;
            };
            let pods = t
                .capacity
                .get("pods")
                .map_or(110, |q| i64::try_from(q.millis() / 1000).unwrap_or(110));
            let key = (image.id.clone(), pods, c.offering.reservation_id.clone());
            if !groups.contains_key(&key) {
                let b = self.bootstrap(&pool, &class, Some(pods));
                let data = userdata::render(family, &b).map_err(|e| CloudError::Invalid {
                    claim: request.claim.clone(),
                    message: format!("EC2NodeClass {class_name}: {e}"),
                })?;
                groups.insert(
                    key.clone(),
                    TemplateOptions {
                        image_id: image.id.clone(),
                        user_data: base64::engine::general_purpose::STANDARD.encode(data),
                        instance_profile: resolved.instance_profile.clone().unwrap_or_default(),
                        security_groups: sgs.clone(),
                        block_devices: template::block_devices(
                            family,
                            class.spec.block_device_mappings.as_deref(),
                        ),
                        metadata: template::metadata(class.spec.metadata_options.as_ref()),
                        detailed_monitoring: class.spec.detailed_monitoring.unwrap_or(false),
                        associate_public_ip: class.spec.associate_public_ip_address,
                        tags: lt_tags.clone(),
                        capacity_reservation: c.offering.reservation_id.as_ref().map(|id| {
                            template::ReservationTarget {
                                id: id.clone(),
                                capacity_block: is_block(id),
                            }
                        }),
                    },
                );
            }
            let Some(opts) = groups.get(&key) else {
                continue;
            };
            images.insert(t.name.clone(), image.id.clone());
            candidates.push(Candidate {
                instance_type: t.name.clone(),
                zone: c.offering.zone.clone(),
                subnet_id: subnet.clone(),
                price: c.offering.price,
                launch_template: opts.name(),
            });
        }
        if candidates.is_empty() {
            return Err(CloudError::Invalid {
                claim: request.claim.clone(),
                message: format!(
                    "EC2NodeClass {class_name}: no AMI or subnet with free addresses for any of \
                     the claim's instance types"
                ),
            });
        }
        let fleet_type = match capacity_type.as_str() {
            "reserved" if capacity_block => "capacity-block",
            "reserved" => "on-demand",
            other => other,
        };
        let body = fleet::request(fleet_type, candidates, instance_tags, request.claim.clone());
        // only the templates the (truncated) request uses
        let used: BTreeSet<&str> = body
            .configs
            .iter()
            .map(|c| c.launch_template.as_str())
            .collect();
        let templates = groups
            .into_values()
            .filter(|o| used.contains(o.name().as_str()))
            .collect();
        Ok(Prepared {
            claim: request.claim.clone(),
            node_pool: request.node_pool.clone(),
            capacity_type,
            templates,
            body,
            images,
            subnets,
            catalog,
        })
    }

    /// Addresses left in `subnet` once this controller's launches since the last
    /// DescribeSubnets are counted (one each).
    fn free_ips(&self, subnet: &str, available: i32) -> i64 {
        i64::from(available) - i64::from(self.inflight_ips.get(subnet).copied().unwrap_or(0))
    }

    /// Launch one instance for each request, in the requests' order.
    pub(super) fn launch_all(
        &mut self,
        requests: &[LaunchRequest],
        now: Time,
    ) -> Vec<Result<Instance, CloudError>> {
        let existing: BTreeMap<String, Instance> = if requests.is_empty() {
            BTreeMap::new()
        } else {
            self.list()
                .into_iter()
                .map(|i| (i.claim.clone(), i))
                .collect()
        };
        let mut out: Vec<Option<Result<Instance, CloudError>>> = Vec::new();
        let mut prepared = Vec::new();
        for r in requests {
            // an instance already carries the claim's tag: a retry after a lost answer
            if let Some(i) = existing.get(&r.claim) {
                out.push(Some(Ok(i.clone())));
                continue;
            }
            match self.prepare(r, now) {
                Ok(p) => {
                    out.push(None);
                    prepared.push(p);
                }
                Err(e) => out.push(Some(Err(e))),
            }
        }
        if prepared.is_empty() {
            return out.into_iter().flatten().collect();
        }
        let known: BTreeSet<String> = self.templates.keys().cloned().collect();
        let clients = self.clients.clone();
        let sends = futures::stream::iter(prepared.iter())
            .map(|p| send(&clients, p, &known))
            .buffered(CONCURRENT_FLEETS)
            .collect::<Vec<_>>();
        let answers = self.handle.block_on(sends);
        let mut finished = prepared
            .into_iter()
            .zip(answers)
            .map(|(p, answer)| self.finish(p, answer, now));
        out.into_iter()
            .map(|slot| match slot {
                Some(done) => done,
                None => finished
                    .next()
                    .unwrap_or_else(|| Err(CloudError::Other("launch lost its answer".into()))),
            })
            .collect()
    }

    /// The instance of one answer, or the error; capacity errors go into the cache.
    fn finish(
        &mut self,
        p: Prepared,
        answer: Result<(Vec<String>, FleetOutcome), AwsError>,
        now: Time,
    ) -> Result<Instance, CloudError> {
        let (templates, outcome) = answer.map_err(CloudError::from)?;
        for name in templates {
            self.templates.insert(name, now);
        }
        let iced: Vec<OfferingKey> = outcome
            .errors
            .iter()
            .filter(|(code, ..)| fleet::is_capacity_error(code))
            .map(|(_, _, ty, zone)| OfferingKey {
                capacity_type: p.capacity_type.clone(),
                instance_type: ty.clone(),
                zone: zone.clone(),
            })
            .collect();
        if !iced.is_empty() {
            self.ice.mark(&iced, now);
            self.shapes.clear_views();
        }
        let Some((id, ty, zone)) = outcome.launched else {
            let message = outcome
                .errors
                .iter()
                .map(|(code, msg, ty, zone)| format!("{ty}/{zone}: {code}: {msg}"))
                .collect::<Vec<_>>()
                .join("; ");
            if !iced.is_empty() {
                return Err(CloudError::InsufficientCapacity {
                    claim: p.claim,
                    message,
                    offerings: iced,
                });
            }
            return Err(CloudError::Other(format!(
                "CreateFleet launched nothing: {message}"
            )));
        };
        if let Some(subnet) = p.subnets.get(&zone) {
            *self.inflight_ips.entry(subnet.clone()).or_default() += 1;
        }
        let t = p.catalog.iter().find(|t| t.name == ty);
        let o = t.and_then(|t| {
            t.offerings
                .iter()
                .find(|o| o.zone == zone && o.capacity_type == p.capacity_type)
        });
        // the reservation has one instance fewer until it is read again
        if let Some(id) = o.and_then(|o| o.reservation_id.clone()) {
            *self.reserved_used.entry(id).or_default() += 1;
            self.shapes.clear_variants();
        }
        let instance = Instance {
            provider_id: instances::provider_id(&zone, &id),
            claim: p.claim,
            node_pool: p.node_pool,
            instance_type: ty.clone(),
            zone: zone.clone(),
            capacity_type: p.capacity_type.clone(),
            price: o.map_or(0.0, |o| o.price),
            image_id: p.images.get(&ty).cloned().unwrap_or_default(),
            launched_at: now,
            state: InstanceState::Pending,
            labels: match (t, o) {
                (Some(t), Some(o)) => karpenter_cloud::ice::node_labels(t, o),
                _ => BTreeMap::new(),
            },
            capacity: t.map(|t| t.capacity.clone()).unwrap_or_default(),
            allocatable: t.map(InstanceType::allocatable).unwrap_or_default(),
        };
        self.created
            .insert(instance.provider_id.clone(), instance.clone());
        self.listed.replace(None);
        Ok(instance)
    }
}

/// Make sure the templates exist (those `known` to exist are not asked about), then send
/// the fleet; a template EC2 has lost is made again and the fleet sent once more. The
/// template names in use, and the answer.
async fn send(
    clients: &Clients,
    p: &Prepared,
    known: &BTreeSet<String>,
) -> Result<(Vec<String>, FleetOutcome), AwsError> {
    let mut names = Vec::new();
    for o in &p.templates {
        let name = o.name();
        if !known.contains(&name) {
            launch::ensure_template(clients, o).await?;
        }
        names.push(name);
    }
    let first = launch::create_fleet(clients, &p.body).await;
    let lost = match &first {
        Err(e) => template_missing(&e.code),
        Ok(outcome) => {
            outcome.launched.is_none()
                && !outcome.errors.is_empty()
                && outcome
                    .errors
                    .iter()
                    .any(|(code, ..)| template_missing(code))
        }
    };
    if !lost {
        return first.map(|o| (names, o));
    }
    karpenter_kube::log::info(
        &format!("NodeClaim/{}", p.claim),
        &format!(
            "launch template lost by EC2, made again and the fleet sent once more: {}",
            names.join(", ")
        ),
    );
    for o in &p.templates {
        launch::ensure_template(clients, o).await?;
    }
    // a new token: an instant fleet's token answers again what it answered first
    let mut again = p.body.clone();
    again.client_token = format!("{}-retry", p.body.client_token);
    launch::create_fleet(clients, &again)
        .await
        .map(|o| (names, o))
}
