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
        for chunk in known.chunks(TERMINATE_BATCH) {
            let ids: Vec<String> = chunk.iter().map(|(_, id)| id.clone()).collect();
            match self.terminate_call(ids) {
                Ok(terminated_before) => {
                    for (i, id) in chunk {
                        out[*i] = if terminated_before.contains(id) {
                            Err(not_found(&provider_ids[*i]))
                        } else {
                            Ok(())
                        };
                    }
                }
                Err(e) if e.is_not_found() && chunk.len() > 1 => {
                    for (i, id) in chunk {
                        out[*i] = match self.terminate_call(vec![id.clone()]) {
                            Ok(before) if before.contains(id) => Err(not_found(&provider_ids[*i])),
                            Ok(_) => Ok(()),
                            Err(e) if e.is_not_found() => Err(not_found(&provider_ids[*i])),
                            Err(e) => Err(e.into()),
                        };
                    }
                }
                Err(e) if e.is_not_found() => {
                    for (i, _) in chunk {
                        out[*i] = Err(not_found(&provider_ids[*i]));
                    }
                }
                Err(e) => {
                    for (i, _) in chunk {
                        out[*i] = Err(e.clone().into());
                    }
                }
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
