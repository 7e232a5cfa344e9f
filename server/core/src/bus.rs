//! The event bus seam: the domain publishes every event after commit; subscribers (the gateway, and
//! later moderation, notifications and webhooks) receive them. The embedded bus is in-process; the
//! production one (Kafka plus Redis pub/sub) comes with the next issue.

use crate::events::Envelope;
use async_trait::async_trait;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
}

/// Receives published events. Called on the publisher's task: implementations must not block or
/// await; they hand the event to their own bounded queues.
pub trait EventSink: Send + Sync + 'static {
    fn deliver(&self, envelope: &Arc<Envelope>);

    /// The bus could not deliver every event published since the last call (a distributed bus lost its
    /// subscription, e.g. Redis went away and came back). A sink that serves clients should make them
    /// resume from the store, so no gap stays silent. The in-process bus never calls it.
    fn continuity_lost(&self) {}
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publish one committed event to every subscriber.
    async fn publish(&self, envelope: Envelope) -> Result<(), BusError>;
    /// Register a subscriber for every later event.
    fn subscribe(&self, sink: Arc<dyn EventSink>);
}
