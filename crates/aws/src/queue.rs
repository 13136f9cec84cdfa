//! The interruption queue: a task long-polls SQS (10 messages, 20 s wait, as upstream),
//! parses each EventBridge message, hands it to the provider and deletes it; a message that
//! does not parse is deleted too, as upstream does. The task keeps upstream's queue
//! metrics: messages received by kind, messages deleted, and how long each message waited
//! in the queue (from SQS's `SentTimestamp`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_sqs::types::MessageSystemAttributeName;
use karpenter_controllers::{Clock, SystemClock};
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

/// Upstream's interruption metrics, as the polling task counts them.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    inner: Arc<Mutex<StatsInner>>,
}

#[derive(Debug, Default)]
struct StatsInner {
    counters: BTreeMap<String, f64>,
    waits: Vec<f64>,
}

/// `karpenter_interruption_received_messages_total`.
pub const RECEIVED: &str = "karpenter_interruption_received_messages_total";
/// `karpenter_interruption_deleted_messages_total`.
pub const DELETED: &str = "karpenter_interruption_deleted_messages_total";
/// `karpenter_interruption_message_queue_duration_seconds`.
pub const QUEUE_DURATION: &str = "karpenter_interruption_message_queue_duration_seconds";

impl Stats {
    fn lock(&self) -> std::sync::MutexGuard<'_, StatsInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(&self, key: String) {
        *self.lock().counters.entry(key).or_default() += 1.0;
    }

    /// Running totals by metric name with labels.
    pub fn counters(&self) -> BTreeMap<String, f64> {
        self.lock().counters.clone()
    }

    /// Seconds each message waited in the queue, since the last call.
    pub fn take_waits(&self) -> Vec<f64> {
        std::mem::take(&mut self.lock().waits)
    }
}

/// Find the queue and start polling it; messages arrive on the receiver.
pub async fn start(
    clients: Clients,
    queue: String,
    stats: Stats,
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
    tokio::spawn(poll(clients, url, tx, stats));
    Ok(rx)
}

async fn poll(clients: Clients, url: String, tx: UnboundedSender<Received>, stats: Stats) {
    loop {
        let answer = clients
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(20)
            .visibility_timeout(20)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
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
            let sent = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                .and_then(|t| t.parse::<i64>().ok());
            if let Some(sent) = sent {
                let waited = (SystemClock.now() - sent).max(0) as f64 / 1000.0;
                stats.lock().waits.push(waited);
            }
            match interruption::parse(m.body().unwrap_or_default()) {
                Ok(message) => {
                    stats.add(format!(
                        "{RECEIVED}{{message_type=\"{}\"}}",
                        message.kind.metric_label()
                    ));
                    if tx.send(Received { message }).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    stats.add(format!("{RECEIVED}{{message_type=\"no_op\"}}"));
                    karpenter_kube::log::warn("interruption", &e.to_string());
                }
            }
            let Some(handle) = m.receipt_handle() else {
                continue;
            };
            match clients
                .sqs
                .delete_message()
                .queue_url(&url)
                .receipt_handle(handle)
                .send()
                .await
            {
                Ok(_) => stats.add(DELETED.to_string()),
                Err(e) => karpenter_kube::log::warn(
                    "interruption",
                    &AwsError::sdk("DeleteMessage", e).to_string(),
                ),
            }
        }
    }
}
