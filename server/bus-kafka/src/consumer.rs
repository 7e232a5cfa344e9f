//! The consumer loop of downstream services: commit an offset only after the handler is done with the event.

use crate::config::KafkaConfig;
use cc_core::events::Envelope;
use rdkafka::Message as _;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::future::Future;
use std::time::Duration;

/// Where a group with no committed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    Earliest,
    Latest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSettings {
    pub group: String,
    pub topics: Vec<String>,
    pub start: StartFrom,
}

/// What the handler did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Finished (or deliberately dropped): commit past it.
    Done,
    /// Failed for now: do not commit; the same event is handed again after a pause.
    Retry,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("cannot create the Kafka consumer (group {group}) for {brokers}: {source}")]
    Create {
        group: String,
        brokers: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("cannot subscribe group {group} to {topics:?}: {source}")]
    Subscribe {
        group: String,
        topics: Vec<String>,
        #[source]
        source: rdkafka::error::KafkaError,
    },
}

/// Pause before handing a failed event again.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Consumes until `shutdown` completes. Each event goes to `handler`; its offset is committed (synchronously,
/// so a crash right after cannot redeliver it) only once the handler answered [`Handled::Done`]. Undecodable
/// events are logged and skipped: a poison message must not stall the partition.
pub async fn run_consumer<H, Fut>(
    config: &KafkaConfig,
    settings: &ConsumerSettings,
    mut handler: H,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ConsumerError>
where
    H: FnMut(Envelope) -> Fut,
    Fut: Future<Output = Handled>,
{
    let mut client = config.client();
    client
        .set("group.id", &settings.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            match settings.start {
                StartFrom::Earliest => "earliest",
                StartFrom::Latest => "latest",
            },
        )
        .set("fetch.wait.max.ms", "10")
        .set("session.timeout.ms", "10000");
    let consumer: StreamConsumer = client.create().map_err(|source| ConsumerError::Create {
        group: settings.group.clone(),
        brokers: config.brokers.clone(),
        source,
    })?;
    let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|source| ConsumerError::Subscribe {
            group: settings.group.clone(),
            topics: settings.topics.clone(),
            source,
        })?;
    tokio::pin!(shutdown);
    loop {
        let received = tokio::select! {
            () = &mut shutdown => return Ok(()),
            received = consumer.recv() => received,
        };
        let message = match received {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, group = %settings.group, "Kafka receive failed; retrying");
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
        };
        let envelope = message.payload().map(serde_json::from_slice::<Envelope>);
        match envelope {
            Some(Ok(envelope)) => {
                let mut pending = Some(envelope);
                while let Some(envelope) = pending.take() {
                    if handler(envelope.clone()).await == Handled::Retry {
                        pending = Some(envelope);
                        tokio::select! {
                            () = &mut shutdown => return Ok(()),
                            () = tokio::time::sleep(RETRY_PAUSE) => {}
                        }
                    }
                }
            }
            Some(Err(error)) => tracing::error!(
                %error, topic = message.topic(), partition = message.partition(), offset = message.offset(),
                "skipping an undecodable event"
            ),
            None => {}
        }
        let mut position = TopicPartitionList::new();
        if let Err(error) = position.add_partition_offset(
            message.topic(),
            message.partition(),
            Offset::Offset(message.offset() + 1),
        ) {
            tracing::error!(%error, "cannot record the consumed offset");
            continue;
        }
        if let Err(error) = consumer.commit(&position, CommitMode::Sync) {
            // Not fatal: the event may be handed again after a rebalance (at-least-once).
            tracing::warn!(%error, group = %settings.group, "offset commit failed");
        }
    }
}
