//! The WebSocket gateway: accepts connections, fans committed events out to them, drains on shutdown.

pub mod capacity;
mod connection;
mod frames;
mod handle;
mod handshake;
mod ops;
mod registry;

pub use handshake::ws_handler;

use crate::config::GatewaySettings;
use cc_core::bus::EventSink;
use cc_core::events::{DomainEvent, Envelope, Recipients};
use cc_protocol::CloseCode;
use handle::OutFrame;
use registry::Registry;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub struct Gateway {
    pub(crate) settings: GatewaySettings,
    registry: Registry,
    draining: AtomicBool,
    /// Upgrades beyond this many open connections are refused (see [`capacity`]).
    max_connections: usize,
}

impl Gateway {
    /// `max_connections` comes from [`capacity::connection_capacity`].
    pub fn new(settings: GatewaySettings, max_connections: usize) -> Self {
        Self {
            settings,
            registry: Registry::default(),
            draining: AtomicBool::new(false),
            max_connections,
        }
    }

    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub fn connection_count(&self) -> usize {
        self.registry.len()
    }

    /// Refuse new connections, then close the open ones with 1012 spread evenly over the drain
    /// window so that clients do not all reconnect at the same instant.
    pub async fn drain(&self) {
        self.draining.store(true, Ordering::Release);
        let connections = self.registry.all();
        if connections.is_empty() {
            return;
        }
        let step =
            self.settings.drain / u32::try_from(connections.len()).unwrap_or(u32::MAX).max(1);
        let start = Instant::now();
        for (index, connection) in connections.iter().enumerate() {
            let due = start + step * u32::try_from(index).unwrap_or(u32::MAX);
            tokio::time::sleep_until(due.into()).await;
            connection.request_close(CloseCode::Restart);
        }
        // Give the last closes a moment to reach the sockets.
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.connection_count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn fan_out(&self, envelope: &Envelope, users: &[cc_core::ids::UserId]) {
        let Some(frame) = frames::frame_for(&envelope.event) else {
            return;
        };
        let message_key = match &envelope.event {
            DomainEvent::MessageCreated { message } => {
                Some((message.conversation_id.clone(), message.seq))
            }
            _ => None,
        };
        let out = Arc::new(OutFrame {
            droppable: frame.is_droppable(),
            text: frame.to_json().into(),
            published_at: message_key.as_ref().map(|_| Instant::now()),
            message_key,
        });
        self.registry
            .for_users(&envelope.app_id, users, |connection| {
                if connection.is_live() {
                    connection.offer(&out);
                }
            });
    }
}

impl EventSink for Gateway {
    /// The bus may have missed events (a distributed bus lost its subscription): close every connection with
    /// 1012 so each client reconnects and resumes from the store, and no gap stays silent.
    fn continuity_lost(&self) {
        let connections = self.registry.all();
        tracing::warn!(
            connections = connections.len(),
            "event continuity lost; asking clients to resume"
        );
        for connection in connections {
            connection.request_close(CloseCode::Restart);
        }
    }

    fn deliver(&self, envelope: &Arc<Envelope>) {
        match (&envelope.event, &envelope.recipients) {
            (DomainEvent::SessionRevoked { session_id, .. }, _) => {
                if let Some(connection) = self.registry.session(session_id)
                    && connection.app_id == envelope.app_id
                {
                    connection.request_close(CloseCode::SessionRevoked);
                }
            }
            (DomainEvent::UserDeactivated { user_id }, _) => {
                self.registry
                    .for_user(&envelope.app_id, user_id, |connection| {
                        connection.request_close(CloseCode::TokenExpired);
                    });
            }
            (_, Recipients::Users(users)) => self.fan_out(envelope, users),
            _ => {}
        }
    }
}
