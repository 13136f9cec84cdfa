//! AL2: a MIME multipart document, the user's parts first, then the shell part calling
//! `/etc/eks/bootstrap.sh` with the cluster's endpoint, CA and DNS and the kubelet's extra
//! arguments (labels, taints, max pods, reserved resources, eviction thresholds).

use super::mime::{self, Part};
use super::{Bootstrap, UserDataError, kubelet_args};

/// The bootstrap script.
pub fn script(b: &Bootstrap) -> String {
    let mut s = String::from(
        "#!/bin/bash -xe\nexec > >(tee /var/log/user-data.log|logger -t user-data -s 2>/dev/console) 2>&1\n",
    );
    s.push_str(&format!(
        "/etc/eks/bootstrap.sh '{}' --apiserver-endpoint '{}'",
        b.cluster_name, b.endpoint
    ));
    if let Some(ca) = &b.ca_bundle {
        s.push_str(&format!(" --b64-cluster-ca '{ca}'"));
    }
    if let Some(dns) = b.cluster_dns.first() {
        s.push_str(&format!(" \\\n--dns-cluster-ip '{dns}'"));
    }
    s.push_str(" \\\n--use-max-pods false");
    let args = kubelet_args(b);
    if !args.is_empty() {
        s.push_str(&format!(" \\\n--kubelet-extra-args '{args}'"));
    }
    s
}

/// The user data.
pub fn render(b: &Bootstrap) -> Result<String, UserDataError> {
    let mut parts = mime::user_parts(b.user_data.as_deref())?;
    parts.push(Part {
        content_type: "text/x-shellscript; charset=\"us-ascii\"".into(),
        body: script(b),
    });
    Ok(mime::write(&parts))
}
