//! The part of a connection other tasks see: its outbound queue and a close signal.

use axum::extract::ws::Utf8Bytes;
use cc_core::ids::{AppId, ConversationId, SessionId, UserId};
use cc_protocol::CloseCode;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::Instant;
use tokio::sync::{Notify, mpsc};

/// One serialized frame, shared by every recipient connection (serialized once per event).
#[derive(Debug)]
pub struct OutFrame {
    pub text: Utf8Bytes,
    /// For `message` frames: the (conversation, seq) used to skip frames a replay already sent.
    pub message_key: Option<(ConversationId, i64)>,
    /// When the event was handed to the gateway, for the send-to-deliver histogram.
    pub published_at: Option<Instant>,
    pub droppable: bool,
}

pub struct ConnHandle {
    pub app_id: AppId,
    pub user_id: UserId,
    pub session_id: SessionId,
    queue: mpsc::Sender<std::sync::Arc<OutFrame>>,
    capacity: usize,
    /// Set by the first `resume`: only then are conversation events queued.
    live: AtomicBool,
    close_code: AtomicU16,
    close: Notify,
}

/// What happened to a frame offered to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    Queued,
    Dropped,
    Closed,
}

impl ConnHandle {
    pub fn new(
        app_id: AppId,
        user_id: UserId,
        session_id: SessionId,
        capacity: usize,
    ) -> (Self, mpsc::Receiver<std::sync::Arc<OutFrame>>) {
        let (queue, receiver) = mpsc::channel(capacity);
        let handle = Self {
            app_id,
            user_id,
            session_id,
            queue,
            capacity,
            live: AtomicBool::new(false),
            close_code: AtomicU16::new(0),
            close: Notify::new(),
        };
        (handle, receiver)
    }

    pub fn set_live(&self) {
        self.live.store(true, Ordering::Release);
    }

    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Ask the connection to close with `code`; the first request wins.
    pub fn request_close(&self, code: CloseCode) {
        if self
            .close_code
            .compare_exchange(0, code.code(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.close.notify_one();
        }
    }

    pub fn requested_close(&self) -> Option<u16> {
        match self.close_code.load(Ordering::Acquire) {
            0 => None,
            code => Some(code),
        }
    }

    pub async fn close_requested(&self) {
        self.close.notified().await;
    }

    /// Queue a frame without waiting. Droppable frames give way when the queue is ¾ full; any
    /// other frame that does not fit closes the connection as a slow consumer (it resumes).
    pub fn offer(&self, frame: &std::sync::Arc<OutFrame>) -> Offer {
        if frame.droppable && self.queue.capacity() < self.capacity / 4 {
            return Offer::Dropped;
        }
        match self.queue.try_send(std::sync::Arc::clone(frame)) {
            Ok(()) => Offer::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if frame.droppable {
                    Offer::Dropped
                } else {
                    self.request_close(CloseCode::SlowConsumer);
                    Offer::Closed
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Offer::Closed,
        }
    }
}
