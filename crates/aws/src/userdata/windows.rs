//! Windows: one PowerShell block, the user's script first, then `Start-EKSBootstrap.ps1`
//! with the cluster's endpoint, CA and DNS and the kubelet's extra arguments.

use super::{Bootstrap, kubelet_args};

/// The user data.
pub fn render(b: &Bootstrap) -> String {
    let mut s = String::from("<powershell>\n");
    if let Some(user) = b.user_data.as_deref().filter(|u| !u.trim().is_empty()) {
        let user = user
            .trim()
            .trim_start_matches("<powershell>")
            .trim_end_matches("</powershell>")
            .trim();
        s.push_str(user);
        s.push('\n');
    }
    s.push_str(
        "[string]$EKSBootstrapScriptFile = \"$env:ProgramFiles\\Amazon\\EKS\\Start-EKSBootstrap.ps1\"\n",
    );
    s.push_str(&format!(
        "& $EKSBootstrapScriptFile -EKSClusterName '{}' -APIServerEndpoint '{}'",
        b.cluster_name, b.endpoint
    ));
    if let Some(ca) = &b.ca_bundle {
        s.push_str(&format!(" -Base64ClusterCA '{ca}'"));
    }
    let args = kubelet_args(b);
    if !args.is_empty() {
        s.push_str(&format!(" -KubeletExtraArgs '{args}'"));
    }
    if let Some(dns) = b.cluster_dns.first() {
        s.push_str(&format!(" -DNSClusterIP '{dns}'"));
    }
    s.push_str("\n</powershell>");
    s
}
