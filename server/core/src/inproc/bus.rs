//! In-process bus: publish calls every subscriber directly, so delivery order equals publish order.

use crate::bus::{Bus, BusError, EventSink};
use crate::events::Envelope;
use async_trait::async_trait;
use std::sync::{Arc, RwLock};

#[derive(Default)]
pub struct InProcessBus {
    sinks: RwLock<Vec<Arc<dyn EventSink>>>,
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, envelope: Envelope) -> Result<(), BusError> {
        let envelope = Arc::new(envelope);
        // Clone the list so no lock is held while sinks run.
        let sinks = self.sinks.read().map(|s| s.clone()).unwrap_or_default();
        for sink in sinks {
            sink.deliver(&envelope);
        }
        Ok(())
    }

    fn subscribe(&self, sink: Arc<dyn EventSink>) {
        if let Ok(mut sinks) = self.sinks.write() {
            sinks.push(sink);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{DomainEvent, Recipients};
    use std::sync::Mutex;

    struct Collect(Mutex<Vec<String>>);
    impl EventSink for Collect {
        fn deliver(&self, envelope: &Arc<Envelope>) {
            self.0
                .lock()
                .unwrap()
                .push(envelope.event.kind().to_owned());
        }
    }

    #[tokio::test]
    async fn every_subscriber_gets_every_event_in_order() {
        let bus = InProcessBus::new();
        let first = Arc::new(Collect(Mutex::new(Vec::new())));
        let second = Arc::new(Collect(Mutex::new(Vec::new())));
        bus.subscribe(first.clone());
        bus.subscribe(second.clone());
        for key in ["a", "b"] {
            let event = DomainEvent::ApiKeyCreated { key_id: key.into() };
            bus.publish(Envelope {
                app_id: "app".into(),
                recipients: Recipients::None,
                event,
                at_ms: 0,
            })
            .await
            .unwrap();
        }
        assert_eq!(first.0.lock().unwrap().len(), 2);
        assert_eq!(
            *second.0.lock().unwrap(),
            vec!["api_key_created", "api_key_created"]
        );
    }
}
