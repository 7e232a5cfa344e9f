//! Topic names, which event goes where, and creating missing topics.

use crate::config::KafkaConfig;
use cc_core::events::{DomainEvent, Envelope};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

/// Every topic of the platform, prefixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Message lifecycle and reactions, keyed by conversation: moderation, notifications and webhooks read it.
    pub messages: String,
    /// Every other durable domain event (membership, conversations, receipts, users, keys, sessions), keyed
    /// by conversation when there is one, else by app and user.
    pub events: String,
    /// Work for the moderation service (next issue), keyed by conversation.
    pub moderation: String,
    /// Push notifications to send (next issue), keyed by recipient user.
    pub notifications: String,
    /// Webhook deliveries to attempt (next issue), keyed by endpoint.
    pub webhooks: String,
}

impl Topics {
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            messages: format!("{prefix}messages"),
            events: format!("{prefix}events"),
            moderation: format!("{prefix}moderation"),
            notifications: format!("{prefix}notifications"),
            webhooks: format!("{prefix}webhooks"),
        }
    }

    pub fn all(&self) -> [&str; 5] {
        [
            &self.messages,
            &self.events,
            &self.moderation,
            &self.notifications,
            &self.webhooks,
        ]
    }

    /// The topic and key of an event, or `None` for live-only events.
    pub fn route(&self, envelope: &Envelope) -> Option<(&str, String)> {
        let key = match envelope.event.conversation_id() {
            Some(conversation) => format!("{}/{}", envelope.app_id, conversation),
            None => format!("{}/{}", envelope.app_id, subject(&envelope.event)),
        };
        let topic = match &envelope.event {
            DomainEvent::Typing { .. } | DomainEvent::PresenceChanged { .. } => return None,
            DomainEvent::MessageCreated { .. }
            | DomainEvent::MessageEdited { .. }
            | DomainEvent::MessageDeleted { .. }
            | DomainEvent::ReactionChanged { .. } => &self.messages,
            _ => &self.events,
        };
        Some((topic, key))
    }
}

/// The user or key an event without a conversation is about: keeps one user's events in order.
fn subject(event: &DomainEvent) -> &str {
    match event {
        DomainEvent::UserCreated { user_id }
        | DomainEvent::UserUpdated { user_id }
        | DomainEvent::UserDeactivated { user_id }
        | DomainEvent::SessionRevoked { user_id, .. }
        | DomainEvent::PresenceChanged { user_id, .. } => user_id.as_str(),
        DomainEvent::ApiKeyCreated { key_id } | DomainEvent::ApiKeyRevoked { key_id } => key_id,
        _ => "",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("cannot create a Kafka admin client for {brokers}: {source}")]
    Client {
        brokers: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("Kafka at {brokers} did not answer the create-topics request: {source}")]
    Request {
        brokers: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error(
        "creating topic {topic} ({partitions} partitions, replication {replication}) failed: {code}; \
         check bus.kafka.partitions / bus.kafka.replication against the number of brokers"
    )]
    Create {
        topic: String,
        partitions: i32,
        replication: i32,
        code: RDKafkaErrorCode,
    },
}

/// Creates the missing topics; existing ones are left as they are (their partition count is never changed
/// here: that would move keys between partitions and break per-conversation order).
pub async fn ensure_topics(config: &KafkaConfig, topics: &Topics) -> Result<(), TopicError> {
    let admin: AdminClient<DefaultClientContext> =
        config
            .client()
            .create()
            .map_err(|source| TopicError::Client {
                brokers: config.brokers.clone(),
                source,
            })?;
    let new: Vec<NewTopic<'_>> = topics
        .all()
        .iter()
        .map(|name| {
            NewTopic::new(
                name,
                config.partitions,
                TopicReplication::Fixed(config.replication),
            )
            .set(
                "min.insync.replicas",
                if config.replication >= 3 { "2" } else { "1" },
            )
            .set("unclean.leader.election.enable", "false")
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&new, &options)
        .await
        .map_err(|source| TopicError::Request {
            brokers: config.brokers.clone(),
            source,
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(TopicError::Create {
                    topic,
                    partitions: config.partitions,
                    replication: config.replication,
                    code,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cc_core::events::Recipients;

    fn envelope(event: DomainEvent) -> Envelope {
        Envelope {
            app_id: "app".into(),
            recipients: Recipients::None,
            event,
            at_ms: 0,
        }
    }

    #[test]
    fn events_route_by_family_and_keep_conversation_keys() {
        let topics = Topics::with_prefix("cc.");
        let receipt = envelope(DomainEvent::ReceiptMoved {
            conversation_id: "c1".into(),
            user_id: "u".into(),
            delivered_seq: 1,
            read_seq: 1,
        });
        assert_eq!(
            topics.route(&receipt),
            Some(("cc.events", "app/c1".to_owned()))
        );
        let user = envelope(DomainEvent::UserCreated {
            user_id: "u9".into(),
        });
        assert_eq!(
            topics.route(&user),
            Some(("cc.events", "app/u9".to_owned()))
        );
        let typing = envelope(DomainEvent::Typing {
            conversation_id: "c1".into(),
            user_id: "u".into(),
            active: true,
            expires_in_ms: 1,
        });
        assert_eq!(topics.route(&typing), None);
    }
}
