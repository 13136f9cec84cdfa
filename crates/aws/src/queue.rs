//! The interruption queue: a task long-polls SQS (10 messages, 20 s wait, as upstream),
//! parses each EventBridge message, hands it to the provider and deletes it; a message that
//! does not parse is deleted too, as upstream does.

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::clients::Clients;
use crate::error::AwsError;
use crate::interruption::{self, Message};

/// A message taken off the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// What it says.
    pub message: Message,
}

/// Find the queue and start polling it; messages arrive on the receiver.
pub async fn start(
    clients: Clients,
    queue: String,
) -> Result<UnboundedReceiver<Received>, AwsError> {
    let url = clients
        .sqs
        .get_queue_url()
        .queue_name(&queue)
        .send()
        .await
        .map_err(|e| AwsError::sdk("GetQueueUrl", e))?
        .queue_url()
        .map(str::to_string)
        .ok_or_else(|| AwsError::other("GetQueueUrl", format!("no URL for queue {queue}")))?;
    let (tx, rx) = unbounded_channel();
    tokio::spawn(poll(clients, url, tx));
    Ok(rx)
}

async fn poll(clients: Clients, url: String, tx: UnboundedSender<Received>) {
    loop {
        let answer = clients
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(20)
            .visibility_timeout(20)
            .send()
            .await;
        let messages = match answer {
            Ok(a) => a.messages().to_vec(),
            Err(e) => {
                karpenter_kube::log::warn(
                    "interruption",
                    &AwsError::sdk("ReceiveMessage", e).to_string(),
                );
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                continue;
            }
        };
        for m in messages {
            match interruption::parse(m.body().unwrap_or_default()) {
                Ok(message) => {
                    if tx.send(Received { message }).is_err() {
                        return;
                    }
                }
                Err(e) => karpenter_kube::log::warn("interruption", &e.to_string()),
            }
            if let Some(handle) = m.receipt_handle()
                && let Err(e) = clients
                    .sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(handle)
                    .send()
                    .await
            {
                karpenter_kube::log::warn(
                    "interruption",
                    &AwsError::sdk("DeleteMessage", e).to_string(),
                );
            }
        }
    }
}
