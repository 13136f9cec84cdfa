//! Instance profiles, as upstream manages them: `spec.instanceProfile` is used as it is;
//! with `spec.role` Karpenter makes `<cluster>_<hash of region and class name>` under the
//! path `/karpenter/<region>/<cluster>/<class uid>/`, tags it for the cluster and the class,
//! puts the role in it (replacing another role), and deletes it with the class. Profiles
//! under the cluster's path whose class (the uid in the path) no longer exists are garbage
//! collected: a class deleted while the controller was down leaves none behind.

use aws_sdk_iam::types::Tag;
use sha2::{Digest, Sha256};

use crate::clients::Clients;
use crate::error::AwsError;
use crate::tags;

/// The name of the profile Karpenter makes for a class.
pub fn name(cluster: &str, region: &str, class: &str) -> String {
    let digest = Sha256::digest(format!("{region}{class}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    format!("{cluster}_{}", u64::from_be_bytes(first))
}

/// Its IAM path.
pub fn path(region: &str, cluster: &str, uid: &str) -> String {
    format!("/karpenter/{region}/{cluster}/{uid}/")
}

/// The role name of `role` (a name, or an ARN whose path is dropped).
pub fn role_name(role: &str) -> &str {
    role.rsplit('/').next().unwrap_or(role)
}

/// The profile `name`, `None` when there is none.
async fn get(
    clients: &Clients,
    name: &str,
) -> Result<Option<aws_sdk_iam::types::InstanceProfile>, AwsError> {
    match clients
        .iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
    {
        Ok(p) => Ok(p.instance_profile().cloned()),
        Err(e) => {
            let e = AwsError::sdk("GetInstanceProfile", e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

/// Make sure the profile exists and holds `role`; returns its name.
pub async fn ensure(
    clients: &Clients,
    cluster: &str,
    class: &str,
    uid: &str,
    role: &str,
) -> Result<String, AwsError> {
    let name = name(cluster, &clients.region, class);
    let role = role_name(role);
    let existing = get(clients, &name).await?;
    let roles: Vec<String> = match existing {
        Some(p) => p
            .roles()
            .iter()
            .map(|r| r.role_name().to_string())
            .collect(),
        None => {
            let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
            let tag_list = [
                tag(&tags::cluster_key(cluster), "owned"),
                tag(tags::EKS_CLUSTER_NAME, cluster),
                tag(tags::NODECLASS, class),
                tag("topology.kubernetes.io/region", &clients.region),
            ]
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::other("CreateInstanceProfile", e.to_string()))?;
            clients
                .iam
                .create_instance_profile()
                .instance_profile_name(&name)
                .path(path(&clients.region, cluster, uid))
                .set_tags(Some(tag_list))
                .send()
                .await
                .map_err(|e| AwsError::sdk("CreateInstanceProfile", e))?;
            Vec::new()
        }
    };
    if roles.iter().any(|r| r == role) {
        return Ok(name);
    }
    for other in &roles {
        clients
            .iam
            .remove_role_from_instance_profile()
            .instance_profile_name(&name)
            .role_name(other)
            .send()
            .await
            .map_err(|e| AwsError::sdk("RemoveRoleFromInstanceProfile", e))?;
    }
    clients
        .iam
        .add_role_to_instance_profile()
        .instance_profile_name(&name)
        .role_name(role)
        .send()
        .await
        .map_err(|e| AwsError::sdk("AddRoleToInstanceProfile", e))?;
    Ok(name)
}

/// Delete the profile Karpenter made for a class (its roles first); gone is fine.
pub async fn delete(clients: &Clients, cluster: &str, class: &str) -> Result<(), AwsError> {
    let name = name(cluster, &clients.region, class);
    match get(clients, &name).await? {
        Some(profile) => remove(clients, &profile).await.map(|_| ()),
        None => Ok(()),
    }
}

/// Take the roles out of `profile` and delete it; `false` when it was gone already.
async fn remove(
    clients: &Clients,
    profile: &aws_sdk_iam::types::InstanceProfile,
) -> Result<bool, AwsError> {
    let name = profile.instance_profile_name();
    for r in profile.roles() {
        clients
            .iam
            .remove_role_from_instance_profile()
            .instance_profile_name(name)
            .role_name(r.role_name())
            .send()
            .await
            .map_err(|e| AwsError::sdk("RemoveRoleFromInstanceProfile", e))?;
    }
    match clients
        .iam
        .delete_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = AwsError::sdk("DeleteInstanceProfile", e);
            if e.is_not_found() { Ok(false) } else { Err(e) }
        }
    }
}

/// The class uid in a profile path this controller made (`/karpenter/<region>/<cluster>/<uid>/`).
pub fn uid_of<'a>(profile_path: &'a str, region: &str, cluster: &str) -> Option<&'a str> {
    let prefix = format!("/karpenter/{region}/{cluster}/");
    let uid = profile_path.strip_prefix(&prefix)?.strip_suffix('/')?;
    (!uid.is_empty() && !uid.contains('/')).then_some(uid)
}

/// Delete the cluster's profiles whose class uid is not in `live` (classes by uid and name:
/// a class made again under the same name keeps the profile its name maps to); the names
/// deleted.
pub async fn collect_garbage(
    clients: &Clients,
    cluster: &str,
    live: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<String>, AwsError> {
    let kept: std::collections::BTreeSet<String> = live
        .values()
        .map(|class| name(cluster, &clients.region, class))
        .collect();
    let prefix = format!("/karpenter/{}/{cluster}/", clients.region);
    let mut orphans = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = clients
            .iam
            .list_instance_profiles()
            .path_prefix(&prefix)
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| AwsError::sdk("ListInstanceProfiles", e))?;
        for p in page.instance_profiles() {
            let Some(uid) = uid_of(p.path(), &clients.region, cluster) else {
                continue;
            };
            if !live.contains_key(uid) && !kept.contains(p.instance_profile_name()) {
                orphans.push(p.clone());
            }
        }
        marker = page
            .marker()
            .filter(|_| page.is_truncated())
            .map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    let mut deleted = Vec::new();
    for p in orphans {
        if remove(clients, &p).await? {
            deleted.push(p.instance_profile_name().to_string());
        }
    }
    Ok(deleted)
}
