//! `AwsCloud`: the CloudProvider port on EC2. Launches go through launch templates and
//! CreateFleet; instances are read back with DescribeInstances by Karpenter's tags;
//! `refresh` runs the provider's own controllers (EC2NodeClass resolution and status, the
//! 12-hourly instance-type and price refresh, idle launch templates deleted); interruption
//! messages arrive from a long-polling task (see `queue`).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use karpenter_api::{EC2NodeClass, NodePool};
use karpenter_catalog::aws::{AwsSettings, InstanceTypeInfo};
use karpenter_cloud::ice::IceCache;
use karpenter_cloud::{CloudError, CloudEvent, CloudProvider, Instance, LaunchRequest};
use karpenter_controllers::{Clock, SystemClock};
use karpenter_kube::cache::Cache;
use karpenter_kube::log;
use karpenter_model::time::{HOUR, MINUTE, SECOND, Time};
use karpenter_model::{InstanceType, Taint};

use crate::catalog::{self, Prices};
use crate::clients::Clients;
use crate::nodeclass::Resolved;
use crate::options::AwsOptions;
use crate::userdata::Bootstrap;
use crate::{classstatus, instances, profile, queue, tags};

mod interrupts;
mod launching;
mod shapes;
mod terminating;

/// How often instance types and prices are read again.
pub const TYPES_REFRESH: Time = 12 * HOUR;
/// How long a launch template may stay unused before it is deleted.
pub const TEMPLATE_TTL: Time = MINUTE;
/// How long a DescribeInstances answer serves `list` and `get`.
const LIST_TTL: Time = 5 * SECOND;

/// The provider.
pub struct AwsCloud {
    clients: Clients,
    handle: tokio::runtime::Handle,
    kube: kube::Client,
    cache: Cache,
    options: AwsOptions,
    endpoint: String,
    ca_bundle: Option<String>,
    cluster_dns: Vec<String>,
    k8s_version: String,
    infos: Vec<InstanceTypeInfo>,
    zones_by_type: BTreeMap<String, BTreeSet<String>>,
    prices: Prices,
    types_at: Time,
    /// The translated catalogs, base and per EC2NodeClass shaping.
    shapes: shapes::Shapes,
    classes: BTreeMap<String, Resolved>,
    classes_key: String,
    classes_at: Time,
    ice: IceCache,
    templates: BTreeMap<String, Time>,
    listed: RefCell<Option<(Time, BTreeMap<String, Instance>)>>,
    /// Subnet and security groups by provider id, from the last DescribeInstances.
    networks: RefCell<BTreeMap<String, instances::Network>>,
    created: BTreeMap<String, Instance>,
    /// Instances launched into each subnet since its free addresses were last read.
    inflight_ips: BTreeMap<String, u32>,
    /// Instances launched into each capacity reservation since it was last read.
    reserved_used: BTreeMap<String, u32>,
    events: Option<tokio::sync::mpsc::UnboundedReceiver<queue::Received>>,
    /// The interruption queue's metrics.
    stats: queue::Stats,
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl AwsCloud {
    /// Connect, learn the cluster and the instance types, and start the interruption
    /// queue's poller. `handle` runs every call; `cache` holds the watched objects.
    pub fn start(
        client: kube::Client,
        handle: tokio::runtime::Handle,
        cache: Cache,
        options: AwsOptions,
        now: Time,
    ) -> Result<AwsCloud, String> {
        let clients = handle.block_on(crate::clients::load());
        let (endpoint, ca_bundle) = match (&options.cluster_endpoint, &options.cluster_ca_bundle) {
            (Some(e), ca) if !e.is_empty() => (e.clone(), ca.clone()),
            _ => handle
                .block_on(crate::discover::cluster(&clients, &options.cluster_name))
                .map_err(text)?,
        };
        let k8s_version = handle
            .block_on(client.apiserver_version())
            .map(|v| format!("{}.{}", v.major, v.minor.trim_end_matches('+')))
            .map_err(|e| format!("reading the Kubernetes version: {e}"))?;
        let cluster_dns = match &options.cluster_dns {
            Some(d) => vec![d.clone()],
            None => handle.block_on(kube_dns(&client)).into_iter().collect(),
        };
        let stats = queue::Stats::default();
        let events = match &options.interruption_queue {
            Some(q) if !q.is_empty() => Some(
                handle
                    .block_on(queue::start(clients.clone(), q.clone(), stats.clone()))
                    .map_err(text)?,
            ),
            _ => None,
        };
        let mut cloud = AwsCloud {
            clients,
            handle,
            kube: client,
            cache,
            options,
            endpoint,
            ca_bundle,
            cluster_dns,
            k8s_version,
            infos: Vec::new(),
            zones_by_type: BTreeMap::new(),
            prices: Prices::default(),
            types_at: 0,
            shapes: shapes::Shapes::default(),
            classes: BTreeMap::new(),
            classes_key: String::new(),
            classes_at: 0,
            ice: IceCache::default(),
            templates: BTreeMap::new(),
            listed: RefCell::new(None),
            networks: RefCell::new(BTreeMap::new()),
            created: BTreeMap::new(),
            inflight_ips: BTreeMap::new(),
            reserved_used: BTreeMap::new(),
            events,
            stats,
        };
        cloud.prices.on_demand = catalog::embedded_on_demand();
        cloud.refresh_types(now).map_err(text)?;
        cloud.hydrate_templates(now);
        Ok(cloud)
    }

    fn refresh_types(&mut self, now: Time) -> Result<(), crate::error::AwsError> {
        let (infos, zones) = self.handle.block_on(async {
            let infos = crate::discover::instance_types(&self.clients).await?;
            let zones = crate::discover::offerings(&self.clients).await?;
            Ok::<_, crate::error::AwsError>((infos, zones))
        })?;
        self.infos = infos;
        self.zones_by_type = zones;
        if !self.options.isolated_vpc {
            match self
                .handle
                .block_on(crate::pricing::on_demand(&self.clients))
            {
                Ok(p) if !p.is_empty() => self.prices.on_demand = p,
                Ok(_) => log::warn(
                    "AwsCloud",
                    "GetProducts returned no prices; keeping the embedded ones",
                ),
                Err(e) => log::warn(
                    "AwsCloud",
                    &format!("on-demand prices: {e}; keeping the embedded ones"),
                ),
            }
        }
        match self.handle.block_on(crate::pricing::spot(&self.clients)) {
            Ok(p) => self.prices.spot.extend(p),
            Err(e) => log::warn("AwsCloud", &format!("spot prices: {e}")),
        }
        self.types_at = now;
        self.rebuild_catalog();
        Ok(())
    }

    fn rebuild_catalog(&mut self) {
        let raw = self.translate(&self.base_settings());
        self.shapes.set_base(raw);
    }

    /// The controller's translation settings (`RESERVED_ENIS`, `VM_MEMORY_OVERHEAD_PERCENT`).
    fn base_settings(&self) -> AwsSettings {
        AwsSettings {
            reserved_enis: self.options.reserved_enis,
            vm_memory_overhead_percent: self.options.vm_memory_overhead_percent,
            ..AwsSettings::default()
        }
    }

    /// The instance types translated with `settings`; offerings are available in zones
    /// with a subnet of some EC2NodeClass.
    fn translate(&self, settings: &AwsSettings) -> Vec<InstanceType> {
        let usable: BTreeSet<String> = self
            .classes
            .values()
            .flat_map(|r| r.subnets.iter().map(|s| s.zone.clone()))
            .collect();
        let zone_ids: BTreeMap<String, String> = self
            .classes
            .values()
            .flat_map(|r| r.subnets.iter())
            .filter_map(|s| Some((s.zone.clone(), s.zone_id.clone()?)))
            .collect();
        catalog::build(
            &self.clients.region,
            &self.infos,
            &self.zones_by_type,
            &zone_ids,
            &self.prices,
            &usable,
            settings,
        )
    }

    /// What `node_pool`'s EC2NodeClass translates with, when it differs from the
    /// controller's settings or selects capacity reservations (`None`: the base catalog).
    fn pool_shape(&self, node_pool: &str) -> Option<shapes::ShapeKey> {
        let pool = self.pool(node_pool)?;
        let class_name = &pool.spec.template.spec.node_class_ref.name;
        let class = self.cache.lock().nodeclasses.get(class_name).cloned()?;
        let base = self.base_settings();
        let settings = match karpenter_api::shape::class_settings(&class, &base) {
            Ok(s) => s,
            Err(e) => {
                log::warn(&format!("EC2NodeClass/{class_name}"), &e.to_string());
                base.clone()
            }
        };
        let reservations = self
            .classes
            .get(class_name)
            .map(|r| r.reservations.clone())
            .unwrap_or_default();
        (settings != base || !reservations.is_empty()).then_some(shapes::ShapeKey {
            settings,
            reservations,
        })
    }

    /// The variant of `key`: translated with its settings, plus its reserved offerings.
    fn translate_shape(&self, key: &shapes::ShapeKey) -> Vec<InstanceType> {
        let mut types = self.translate(&key.settings);
        crate::reservations::add_offerings(&mut types, &key.reservations, &self.reserved_used);
        types
    }

    fn hydrate_templates(&mut self, now: Time) {
        let found = self.handle.block_on(
            self.clients
                .ec2
                .describe_launch_templates()
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name(format!("tag:{}", tags::EKS_CLUSTER_NAME))
                        .values(&self.options.cluster_name)
                        .build(),
                )
                .send(),
        );
        match found {
            Ok(a) => {
                for t in a.launch_templates() {
                    if let Some(n) = t.launch_template_name() {
                        self.templates.insert(n.to_string(), now);
                    }
                }
            }
            Err(e) => log::warn(
                "AwsCloud",
                &crate::error::AwsError::sdk("DescribeLaunchTemplates", e).to_string(),
            ),
        }
    }

    fn refresh_classes(&mut self, now: Time) {
        let classes: Vec<Arc<EC2NodeClass>> = self
            .cache
            .lock()
            .nodeclasses
            .items()
            .values()
            .cloned()
            .collect();
        let claims_by_class: BTreeSet<String> = {
            let stores = self.cache.lock();
            stores
                .nodeclaims
                .items()
                .values()
                .filter(|c| c.spec.node_class_ref.kind == "EC2NodeClass")
                .map(|c| c.spec.node_class_ref.name.clone())
                .collect()
        };
        // the spec (generation), deletion and, for a class being deleted, whether claims
        // still use it: not the resourceVersion, which our own status writes move
        let key: String = classes
            .iter()
            .map(|c| {
                let name = c.metadata.name.as_deref().unwrap_or("");
                let deleting = c.metadata.deletion_timestamp.is_some();
                format!(
                    "{name}@{}/{}/{deleting}/{};",
                    c.metadata.uid.as_deref().unwrap_or(""),
                    c.metadata.generation.unwrap_or(0),
                    deleting && claims_by_class.contains(name),
                )
            })
            .collect();
        let interval = self.options.subnet_refresh.min(self.options.ami_refresh);
        if key == self.classes_key && now - self.classes_at < interval {
            return;
        }
        let mut resolved = BTreeMap::new();
        let mut written = true;
        for class in &classes {
            let Some(name) = class.metadata.name.clone() else {
                continue;
            };
            if class.metadata.deletion_timestamp.is_some() {
                if claims_by_class.contains(&name) {
                    continue;
                }
                let done = self.handle.block_on(async {
                    if class.spec.role.is_some() {
                        profile::delete(&self.clients, &self.options.cluster_name, &name)
                            .await
                            .map_err(text)?;
                    }
                    classstatus::release(&self.kube, class).await.map_err(text)
                });
                if let Err(e) = done {
                    log::warn(&format!("EC2NodeClass/{name}"), &e);
                    written = false;
                }
                continue;
            }
            let mut r = self.handle.block_on(crate::nodeclass::resolve(
                &self.clients,
                class,
                &self.k8s_version,
            ));
            match (&class.spec.instance_profile, &class.spec.role) {
                (Some(p), _) => r.instance_profile = Some(p.clone()),
                (None, Some(role)) => {
                    let uid = class.metadata.uid.clone().unwrap_or_default();
                    match self.handle.block_on(profile::ensure(
                        &self.clients,
                        &self.options.cluster_name,
                        &name,
                        &uid,
                        role,
                    )) {
                        Ok(p) => r.instance_profile = Some(p),
                        Err(e) => {
                            r.problems.insert("InstanceProfileReady", e.to_string());
                        }
                    }
                }
                (None, None) => {
                    r.problems.insert(
                        "InstanceProfileReady",
                        "neither spec.role nor spec.instanceProfile is set".into(),
                    );
                }
            }
            if let Err(e) = self
                .handle
                .block_on(classstatus::write(&self.kube, class, &r, now))
            {
                log::warn(&format!("EC2NodeClass/{name}"), &e.to_string());
                written = false;
            }
            resolved.insert(name, r);
        }
        self.collect_profiles(&classes);
        self.classes = resolved;
        // the subnets' free addresses and the reservations' counts were just read again
        self.inflight_ips.clear();
        self.reserved_used.clear();
        // a failed write is tried again next pass
        self.classes_key = if written { key } else { String::new() };
        self.classes_at = now;
        self.rebuild_catalog();
    }

    /// Delete instance profiles this cluster's controller made for classes that are gone.
    fn collect_profiles(&self, classes: &[Arc<EC2NodeClass>]) {
        let live: BTreeMap<String, String> = classes
            .iter()
            .filter_map(|c| Some((c.metadata.uid.clone()?, c.metadata.name.clone()?)))
            .collect();
        match self.handle.block_on(profile::collect_garbage(
            &self.clients,
            &self.options.cluster_name,
            &live,
        )) {
            Ok(gone) => {
                for name in gone {
                    log::info(
                        "AwsCloud",
                        &format!("deleted instance profile {name}: its EC2NodeClass is gone"),
                    );
                }
            }
            Err(e) => log::warn("AwsCloud", &e.to_string()),
        }
    }

    fn delete_idle_templates(&mut self, now: Time) {
        let idle: Vec<String> = self
            .templates
            .iter()
            .filter(|(_, used)| now - **used > TEMPLATE_TTL)
            .map(|(n, _)| n.clone())
            .collect();
        for name in idle {
            let r = self.handle.block_on(
                self.clients
                    .ec2
                    .delete_launch_template()
                    .launch_template_name(&name)
                    .send(),
            );
            match r {
                Ok(_) => {
                    self.templates.remove(&name);
                }
                Err(e) => {
                    let e = crate::error::AwsError::sdk("DeleteLaunchTemplate", e);
                    if e.is_not_found() || e.code.contains("InvalidLaunchTemplateName") {
                        self.templates.remove(&name);
                    } else {
                        log::warn("AwsCloud", &e.to_string());
                    }
                }
            }
        }
    }

    fn pool(&self, name: &str) -> Option<Arc<NodePool>> {
        self.cache.lock().nodepools.get(name).cloned()
    }

    fn bootstrap(&self, pool: &NodePool, class: &EC2NodeClass, max_pods: Option<i64>) -> Bootstrap {
        let template = &pool.spec.template;
        let mut labels = template.metadata.labels.clone().unwrap_or_default();
        labels.insert(
            karpenter_model::wellknown::labels::NODEPOOL.into(),
            pool.metadata.name.clone().unwrap_or_default(),
        );
        let to_taint = |t: &karpenter_api::Taint| Taint {
            key: t.key.clone(),
            value: t.value.clone().unwrap_or_default(),
            effect: karpenter_model::taints::Effect::parse(&format!("{:?}", t.effect))
                .unwrap_or(karpenter_model::taints::Effect::NoSchedule),
        };
        let mut taints: Vec<Taint> = template
            .spec
            .taints
            .iter()
            .flatten()
            .chain(template.spec.startup_taints.iter().flatten())
            .map(to_taint)
            .collect();
        taints.push(Taint {
            key: karpenter_model::wellknown::taints::UNREGISTERED_KEY.into(),
            value: String::new(),
            effect: karpenter_model::taints::Effect::NoExecute,
        });
        let k = class.spec.kubelet.clone().unwrap_or_default();
        Bootstrap {
            cluster_name: self.options.cluster_name.clone(),
            endpoint: self.endpoint.clone(),
            ca_bundle: self.ca_bundle.clone(),
            service_cidr: None,
            cluster_dns: k
                .cluster_dns
                .clone()
                .unwrap_or_else(|| self.cluster_dns.clone()),
            labels,
            taints,
            max_pods: k.max_pods.map(i64::from).or(max_pods),
            kube_reserved: k.kube_reserved.clone().unwrap_or_default(),
            system_reserved: k.system_reserved.clone().unwrap_or_default(),
            eviction_hard: k.eviction_hard.clone().unwrap_or_default(),
            eviction_soft: k.eviction_soft.clone().unwrap_or_default(),
            pods_per_core: k.pods_per_core.map(i64::from),
            user_data: class.spec.user_data.clone(),
        }
    }

    fn describe(&self) -> Result<BTreeMap<String, Instance>, CloudError> {
        let filters = vec![
            aws_sdk_ec2::types::Filter::builder()
                .name(format!("tag:{}", tags::EKS_CLUSTER_NAME))
                .values(&self.options.cluster_name)
                .build(),
            aws_sdk_ec2::types::Filter::builder()
                .name("tag-key")
                .values(tags::NODEPOOL)
                .build(),
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .values("stopping")
                .values("stopped")
                .values("shutting-down")
                .build(),
        ];
        let mut out = BTreeMap::new();
        let mut networks = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let answer = self
                .handle
                .block_on(
                    self.clients
                        .ec2
                        .describe_instances()
                        .set_filters(Some(filters.clone()))
                        .set_next_token(token.clone())
                        .send(),
                )
                .map_err(|e| {
                    CloudError::from(crate::error::AwsError::sdk("DescribeInstances", e))
                })?;
            for r in answer.reservations() {
                for i in r.instances() {
                    if let Some(x) = instances::instance(i, self.shapes.base_raw()) {
                        networks.insert(x.provider_id.clone(), instances::network(i));
                        out.insert(x.provider_id.clone(), x);
                    }
                }
            }
            token = answer
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        self.networks.replace(networks);
        Ok(out)
    }

    fn listed(&self, now: Time) -> BTreeMap<String, Instance> {
        if let Some((at, l)) = self.listed.borrow().as_ref()
            && now - *at < LIST_TTL
        {
            return l.clone();
        }
        match self.describe() {
            Ok(l) => {
                self.listed.replace(Some((now, l.clone())));
                l
            }
            Err(e) => {
                log::warn("AwsCloud", &e.to_string());
                self.listed
                    .borrow()
                    .as_ref()
                    .map(|(_, l)| l.clone())
                    .unwrap_or_default()
            }
        }
    }
}

async fn kube_dns(client: &kube::Client) -> Option<String> {
    let api: kube::Api<k8s_openapi::api::core::v1::Service> =
        kube::Api::namespaced(client.clone(), "kube-system");
    let svc = api.get_opt("kube-dns").await.ok()??;
    svc.spec?
        .cluster_ip
        .filter(|ip| !ip.is_empty() && ip != "None")
}

impl CloudProvider for AwsCloud {
    fn create(&mut self, request: &LaunchRequest, now: Time) -> Result<Instance, CloudError> {
        self.launch_all(std::slice::from_ref(request), now)
            .pop()
            .unwrap_or_else(|| Err(CloudError::Other("launch lost its answer".into())))
    }

    fn create_all(
        &mut self,
        requests: &[LaunchRequest],
        now: Time,
    ) -> Vec<Result<Instance, CloudError>> {
        self.launch_all(requests, now)
    }

    fn delete(&mut self, provider_id: &str, _now: Time) -> Result<(), CloudError> {
        self.terminate(&[provider_id.to_string()])
            .pop()
            .unwrap_or_else(|| Err(CloudError::Other("termination lost its answer".into())))
    }

    fn delete_all(&mut self, provider_ids: &[String], _now: Time) -> Vec<Result<(), CloudError>> {
        self.terminate(provider_ids)
    }

    fn get(&self, provider_id: &str) -> Result<Instance, CloudError> {
        if let Some(i) = self.listed(SystemClock.now()).get(provider_id) {
            return Ok(i.clone());
        }
        self.created
            .get(provider_id)
            .cloned()
            .ok_or_else(|| CloudError::NotFound {
                provider_id: provider_id.into(),
            })
    }

    fn list(&self) -> Vec<Instance> {
        let mut out = self.listed(SystemClock.now());
        for (id, i) in &self.created {
            out.entry(id.clone()).or_insert_with(|| i.clone());
        }
        out.into_values().collect()
    }

    fn instance_types(&self, now: Time) -> Arc<Vec<InstanceType>> {
        self.shapes.base(&self.ice, now)
    }

    fn instance_types_for(&self, node_pool: &str, now: Time) -> Arc<Vec<InstanceType>> {
        match self.pool_shape(node_pool) {
            Some(key) => self
                .shapes
                .shaped(&key, &self.ice, now, |k| self.translate_shape(k)),
            None => self.instance_types(now),
        }
    }

    fn is_drifted(&self, instance: &Instance) -> Result<Option<String>, CloudError> {
        let Some(pool) = self.pool(&instance.node_pool) else {
            return Ok(None);
        };
        let class = &pool.spec.template.spec.node_class_ref.name;
        let Some(r) = self.classes.get(class).filter(|r| r.ready()) else {
            return Ok(None);
        };
        let networks = self.networks.borrow();
        let Some(net) = networks.get(&instance.provider_id) else {
            return Ok(None);
        };
        if !net.subnet.is_empty() && !r.subnets.iter().any(|s| s.id == net.subnet) {
            return Ok(Some(format!(
                "SubnetDrift: subnet {} is not among EC2NodeClass {class}'s subnets",
                net.subnet
            )));
        }
        let want: BTreeSet<&str> = r
            .security_groups
            .iter()
            .map(|(id, _)| id.as_str())
            .collect();
        let have: BTreeSet<&str> = net.security_groups.iter().map(String::as_str).collect();
        if !have.is_empty() && want != have {
            let list = |s: &BTreeSet<&str>| s.iter().copied().collect::<Vec<_>>().join(", ");
            return Ok(Some(format!(
                "SecurityGroupDrift: security groups [{}] are not EC2NodeClass {class}'s [{}]",
                list(&have),
                list(&want)
            )));
        }
        Ok(None)
    }

    fn poll_events(&mut self, now: Time) -> Vec<CloudEvent> {
        // forget launches DescribeInstances has caught up with
        let listed = self.listed(now);
        self.created.retain(|id, _| !listed.contains_key(id));
        let Some(rx) = self.events.as_mut() else {
            return Vec::new();
        };
        let mut received = Vec::new();
        while let Ok(m) = rx.try_recv() {
            received.push(m);
        }
        let mut out = Vec::new();
        for m in received {
            for id in &m.message.instance_ids {
                let Some(i) = listed
                    .values()
                    .find(|i| instances::instance_id(&i.provider_id) == Some(id.as_str()))
                else {
                    continue;
                };
                if let Some(e) = self.on_message(&m.message.kind, i, now) {
                    out.push(e);
                }
            }
        }
        out
    }

    fn counters(&self) -> BTreeMap<String, f64> {
        self.stats.counters()
    }

    fn take_observations(&mut self) -> Vec<(String, f64)> {
        self.stats
            .take_waits()
            .into_iter()
            .map(|s| (queue::QUEUE_DURATION.to_string(), s))
            .collect()
    }

    fn refresh(&mut self, now: Time) {
        self.refresh_classes(now);
        if now - self.types_at >= TYPES_REFRESH
            && let Err(e) = self.refresh_types(now)
        {
            log::warn("AwsCloud", &e.to_string());
        }
        self.ice.expire(now);
        self.delete_idle_templates(now);
    }
}
