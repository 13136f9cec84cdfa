//! The controllers' [`Setup`] from Kubernetes objects: NodePools (ready ones, limits as
//! configured), DaemonSets for overhead, startup taints and disruption policies per NodePool,
//! and PodDisruptionBudgets. The simulator builds it from a scenario's manifests, the
//! controller from its watch caches, through this one function.

use std::collections::BTreeMap;

use karpenter_api::snapshot::{self, Cluster};
use karpenter_api::validate::FieldError;
use karpenter_model::InstanceType;
use karpenter_scheduling::Options;

use crate::input::Setup;
use crate::state::Pdb;

/// What [`setup`] built, and every object it had to leave out with why.
#[derive(Debug, Clone)]
pub struct Built {
    /// NodePools, DaemonSets, policies.
    pub setup: Setup,
    /// PodDisruptionBudgets.
    pub pdbs: Vec<Pdb>,
    /// Objects left out (a NodePool with an unreadable policy, a malformed PDB).
    pub errors: Vec<FieldError>,
}

/// The setup and the PodDisruptionBudgets of `cluster`, strictly: any problem is an error
/// (the simulator's scenarios must be right).
pub fn setup(
    cluster: &Cluster<'_>,
    catalog: Vec<InstanceType>,
    options: Options,
    spot_to_spot: bool,
) -> Result<(Setup, Vec<Pdb>), Vec<FieldError>> {
    let built = setup_lenient(cluster, catalog, options, spot_to_spot)?;
    if built.errors.is_empty() {
        Ok((built.setup, built.pdbs))
    } else {
        Err(built.errors)
    }
}

/// The setup of `cluster`, leaving out (and reporting) the objects it cannot read, so one
/// malformed PodDisruptionBudget does not stop a controller. Only NodePools,
/// EC2NodeClasses, DaemonSets, PDBs, namespaces and RuntimeClasses are read: usage of
/// existing nodes is subtracted per solve, not here.
pub fn setup_lenient(
    cluster: &Cluster<'_>,
    catalog: Vec<InstanceType>,
    options: Options,
    spot_to_spot: bool,
) -> Result<Built, Vec<FieldError>> {
    let only_config = Cluster {
        namespaces: cluster.namespaces.clone(),
        runtime_overhead: cluster.runtime_overhead.clone(),
        nodepools: cluster.nodepools.clone(),
        daemonsets: cluster.daemonsets.clone(),
        nodeclasses: cluster.nodeclasses.clone(),
        ..Cluster::default()
    };
    let input = snapshot::scheduling_input(&only_config, catalog, options)?;
    let mut errors = Vec::new();
    let mut startup_taints = BTreeMap::new();
    let mut disruption = Vec::new();
    for np in &cluster.nodepools {
        let name = np.metadata.name.clone().unwrap_or_default();
        let taints = np
            .spec
            .template
            .spec
            .startup_taints
            .iter()
            .flatten()
            .map(karpenter_api::convert::taint)
            .collect();
        startup_taints.insert(name, taints);
        match snapshot::pool_policy(np) {
            Ok(p) => disruption.push(p),
            Err(e) => errors.push(e),
        }
    }
    let mut pdbs = Vec::new();
    for b in &cluster.pdbs {
        match snapshot::pdb(b) {
            Ok(p) => pdbs.push(p),
            Err(e) => errors.push(e),
        }
    }
    Ok(Built {
        setup: Setup {
            pools: input.pools,
            daemonsets: input.daemonsets,
            startup_taints,
            options,
            disruption,
            spot_to_spot,
        },
        pdbs,
        errors,
    })
}
