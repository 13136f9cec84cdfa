//! Terminating instances as upstream batches it: one TerminateInstances for up to 500
//! instances of a pass. An instance EC2 had already terminated, or does not know, is
//! `NotFound`; one unknown id fails the whole call, so that batch is sent again one
//! instance at a time.

use aws_sdk_ec2::types::InstanceStateName;
use karpenter_cloud::CloudError;

use super::AwsCloud;
use crate::error::AwsError;
use crate::instances;

/// Most instances one TerminateInstances call names (upstream's batch size).
pub const TERMINATE_BATCH: usize = 500;

impl AwsCloud {
    /// Terminate `provider_ids`, answering in their order.
    pub(super) fn terminate(&mut self, provider_ids: &[String]) -> Vec<Result<(), CloudError>> {
        let not_found = |p: &str| CloudError::NotFound {
            provider_id: p.to_string(),
        };
        let mut out: Vec<Result<(), CloudError>> =
            provider_ids.iter().map(|p| Err(not_found(p))).collect();
        let mut known: Vec<(usize, String)> = Vec::new();
        for (i, p) in provider_ids.iter().enumerate() {
            if let Some(id) = instances::instance_id(p) {
                self.created.remove(p);
                known.push((i, id.to_string()));
            }
        }
        self.listed.replace(None);
        // one call's answer for instance `id` (provider id `p`)
        let answer = |call: &Result<Vec<String>, AwsError>, id: &String, p: &str| match call {
            Ok(before) if before.contains(id) => Err(not_found(p)),
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Err(not_found(p)),
            Err(e) => Err(e.clone().into()),
        };
        for chunk in known.chunks(TERMINATE_BATCH) {
            let ids: Vec<String> = chunk.iter().map(|(_, id)| id.clone()).collect();
            let call = self.terminate_call(ids);
            let one_unknown = chunk.len() > 1 && call.as_ref().is_err_and(AwsError::is_not_found);
            for (i, id) in chunk {
                out[*i] = if one_unknown {
                    answer(
                        &self.terminate_call(vec![id.clone()]),
                        id,
                        &provider_ids[*i],
                    )
                } else {
                    answer(&call, id, &provider_ids[*i])
                };
            }
        }
        out
    }

    /// One TerminateInstances call: the ids that were terminated already.
    fn terminate_call(&self, ids: Vec<String>) -> Result<Vec<String>, AwsError> {
        let answer = self.handle.block_on(
            self.clients
                .ec2
                .terminate_instances()
                .set_instance_ids(Some(ids))
                .send(),
        );
        let a = answer.map_err(|e| AwsError::sdk("TerminateInstances", e))?;
        Ok(a.terminating_instances()
            .iter()
            .filter(|s| {
                s.previous_state().and_then(|p| p.name()) == Some(&InstanceStateName::Terminated)
            })
            .filter_map(|s| s.instance_id().map(str::to_string))
            .collect())
    }
}
