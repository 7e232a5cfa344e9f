//! One connection: a single task that reads client frames, writes queued frames in batches (feed
//! all, flush once), pings, and enforces the idle timeout. Generic over the socket so that the
//! session logic does not depend on a real network.

use super::handle::{ConnHandle, OutFrame};
use super::ops::{self, Admit, Conn};
use crate::metrics::Tally;
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message};
use cc_core::Principal;
use cc_core::ids::{SessionId, now_ms};
use cc_core::presence::SessionInfo;
use cc_protocol::{CloseCode, ErrorCode, HelloFrame, Limits, PROTOCOL_VERSION, ServerFrame};
use futures_util::{Sink, SinkExt as _, Stream, StreamExt as _};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A socket write that takes longer than this means the peer stopped reading: drop it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most queued frames written before one flush.
const BATCH: usize = 512;

pub(crate) trait Socket:
    Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin + Send
{
}
impl<T> Socket for T where
    T: Stream<Item = Result<Message, axum::Error>>
        + Sink<Message, Error = axum::Error>
        + Unpin
        + Send
{
}

/// Why the loop ended.
enum End {
    Close(u16, &'static str),
    Gone,
}

fn close_for_read_error(error: axum::Error) -> End {
    use tungstenite::error::{CapacityError, Error};
    let inner = error.into_inner();
    match inner.downcast_ref::<Error>() {
        Some(Error::Utf8(_)) => End::Close(
            CloseCode::InvalidUtf8.code(),
            CloseCode::InvalidUtf8.reason(),
        ),
        Some(Error::Capacity(CapacityError::MessageTooLong { .. })) => {
            End::Close(CloseCode::TooBig.code(), CloseCode::TooBig.reason())
        }
        Some(Error::Protocol(_)) => End::Close(1002, "protocol error"),
        _ => End::Gone,
    }
}

pub(crate) async fn serve<S: Socket>(
    mut socket: S,
    state: AppState,
    principal: Principal,
    session_id: SessionId,
    device: String,
) {
    let settings = &state.gateway.settings;
    let (handle, mut queue) = ConnHandle::new(
        principal.app_id.clone(),
        principal.user_id.clone(),
        session_id.clone(),
        settings.outbound_queue,
    );
    let handle = Arc::new(handle);
    state.gateway.registry().insert(&handle);
    state.metrics.connections.fetch_add(1, Ordering::Relaxed);
    // Futures that run once or rarely are boxed: their state then lives on the heap only while they
    // run, instead of enlarging every idle connection's task.
    let mut registration = Registration {
        device,
        connected_at_ms: now_ms(),
        // Read before registering: a failure while registering moves it on, and the next heartbeat retries.
        generation: state.service.presence().generation(),
    };
    Box::pin(
        state
            .service
            .session_opened(registration.session(&principal, &session_id)),
    )
    .await;
    tracing::debug!("connected");
    let limits = state.service.limits();
    let hello = ServerFrame::Hello(HelloFrame {
        protocol: PROTOCOL_VERSION,
        session_id: session_id.0.clone(),
        user_id: principal.user_id.0.clone(),
        app_id: principal.app_id.0.clone(),
        server_time_ms: now_ms(),
        heartbeat_ms: settings.heartbeat.as_millis() as u64,
        idle_timeout_ms: settings.idle_timeout.as_millis() as u64,
        limits: Limits {
            max_frame_bytes: settings.max_frame_bytes,
            max_text_bytes: limits.max_text_bytes,
            messages_per_sec: limits.messages_per_sec,
            message_burst: limits.message_burst,
        },
    });
    let mut conn = Conn::new(state.clone(), principal, Arc::clone(&handle));
    let end = if Box::pin(write_frames(&mut socket, &[hello])).await {
        run_loop(
            &mut socket,
            &mut conn,
            &handle,
            &mut queue,
            &mut registration,
        )
        .await
    } else {
        End::Gone
    };
    if let End::Close(code, reason) = end {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = Box::pin(tokio::time::timeout(
            Duration::from_secs(2),
            socket.send(Message::Close(Some(frame))),
        ))
        .await;
    }
    state.gateway.registry().remove(&handle);
    state.metrics.connections.fetch_sub(1, Ordering::Relaxed);
    Box::pin(state.service.session_closed(&handle.app_id, &session_id)).await;
    tracing::debug!("disconnected");
}

/// What registered this connection's session with the presence store, kept to register it again.
struct Registration {
    device: String,
    connected_at_ms: i64,
    generation: Option<u64>,
}

impl Registration {
    fn session(&self, principal: &Principal, session_id: &SessionId) -> SessionInfo {
        SessionInfo {
            app_id: principal.app_id.clone(),
            session_id: session_id.clone(),
            user_id: principal.user_id.clone(),
            device: self.device.clone(),
            connected_at_ms: self.connected_at_ms,
            token_id: principal.token_id.clone(),
            token_expires_at_ms: principal.expires_at_ms,
        }
    }

    /// Registers the session again when the presence store failed since it was last registered (it
    /// may have come back empty): presence and the session list return without a reconnect, spread
    /// over one heartbeat interval. Nothing happens while the store is unreachable.
    async fn refresh(&mut self, conn: &Conn, session_id: &SessionId) {
        let current = conn.state.service.presence().generation();
        if current.is_none() || current == self.generation {
            return;
        }
        self.generation = current;
        let session = self.session(&conn.principal, session_id);
        Box::pin(conn.state.service.session_opened(session)).await;
    }
}

async fn run_loop<S: Socket>(
    socket: &mut S,
    conn: &mut Conn,
    handle: &ConnHandle,
    queue: &mut tokio::sync::mpsc::Receiver<Arc<OutFrame>>,
    registration: &mut Registration,
) -> End {
    // Copied out: the settings themselves are not held across awaits.
    let (heartbeat_every, idle_timeout) = (
        conn.state.gateway.settings.heartbeat,
        conn.state.gateway.settings.idle_timeout,
    );
    let mut last_received = Instant::now();
    let heartbeat = tokio::time::sleep(heartbeat_every);
    tokio::pin!(heartbeat);
    loop {
        tokio::select! {
            biased;
            () = handle.close_requested() => {
                let code = handle.requested_close().unwrap_or(1000);
                let reason = match code {
                    4001 => CloseCode::SessionRevoked.reason(),
                    4003 => CloseCode::TokenExpired.reason(),
                    4008 => CloseCode::SlowConsumer.reason(),
                    1012 => CloseCode::Restart.reason(),
                    _ => CloseCode::Normal.reason(),
                };
                return End::Close(code, reason);
            }
            // Before the queue and the socket: with `biased`, a client that always has another
            // frame waiting (a sender whose acks are slow) would otherwise never be pinged, never
            // have its token expiry or idle time checked, and never register its session again.
            () = &mut heartbeat => {
                if last_received.elapsed() >= idle_timeout {
                    return End::Close(CloseCode::IdleTimeout.code(), CloseCode::IdleTimeout.reason());
                }
                if conn.principal.expires_at_ms + cc_core::auth::jwt::LEEWAY_SECS * 1000 < now_ms() {
                    return End::Close(CloseCode::TokenExpired.code(), CloseCode::TokenExpired.reason());
                }
                registration.refresh(conn, &handle.session_id).await;
                let pinged = Box::pin(tokio::time::timeout(WRITE_TIMEOUT, socket.send(Message::Ping(axum::body::Bytes::new())))).await;
                if !matches!(pinged, Ok(Ok(()))) {
                    return End::Gone;
                }
                heartbeat.as_mut().reset((Instant::now() + heartbeat_every).into());
            }
            Some(first) = queue.recv() => {
                // One more turn of the scheduler before writing lets the fan-out of other sends
                // land in this queue too: under load that turns a write syscall per frame into
                // one per batch (the measured difference is ~10x in deliveries/s); idle, the
                // turn costs microseconds.
                if queue.is_empty() {
                    tokio::task::yield_now().await;
                }
                if !Box::pin(write_batch(socket, conn, &[], Some(first), queue)).await {
                    return End::Gone;
                }
            }
            incoming = socket.next() => {
                last_received = Instant::now();
                match incoming {
                    None | Some(Ok(Message::Close(_))) => return End::Gone,
                    Some(Err(error)) => return close_for_read_error(error),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Binary(_))) => {
                        let error = ServerFrame::Error { id: None, code: ErrorCode::InvalidJson, message: "binary frames are not accepted; send JSON text frames".into(), details: serde_json::json!({}) };
                        conn.state.metrics.error(ErrorCode::InvalidJson);
                        if !Box::pin(write_frames(socket, &[error])).await {
                            return End::Gone;
                        }
                    }
                    Some(Ok(Message::Text(text))) => {
                        let answers = Box::pin(ops::handle_text(conn, text.as_str())).await;
                        // What was queued meanwhile goes out in the same write: for a send, that is
                        // the echo of the message itself, published before the ack was answered.
                        let queued = queue.try_recv().ok();
                        if !Box::pin(write_batch(socket, conn, &answers, queued, queue)).await {
                            return End::Gone;
                        }
                    }
                }
            }
        }
    }
}

/// Write answers (acks, errors, replays) in order with one flush.
async fn write_frames<S: Socket>(socket: &mut S, frames: &[ServerFrame]) -> bool {
    if frames.is_empty() {
        return true;
    }
    let write = async {
        for frame in frames {
            socket.feed(Message::Text(frame.to_json().into())).await?;
        }
        socket.flush().await
    };
    matches!(tokio::time::timeout(WRITE_TIMEOUT, write).await, Ok(Ok(())))
}

/// Write `answers`, then the first queued frame and everything else already queued, then flush once.
async fn write_batch<S: Socket>(
    socket: &mut S,
    conn: &mut Conn,
    answers: &[ServerFrame],
    first: Option<Arc<OutFrame>>,
    queue: &mut tokio::sync::mpsc::Receiver<Arc<OutFrame>>,
) -> bool {
    if answers.is_empty() && first.is_none() {
        return true;
    }
    let metrics = Arc::clone(&conn.state.metrics);
    let write = async {
        for answer in answers {
            socket.feed(Message::Text(answer.to_json().into())).await?;
        }
        let mut next = first;
        let mut written = 0;
        // One clock read per batch for the send-to-deliver histogram, not one per frame.
        let mut now = None;
        let mut tally = Tally::default();
        while let Some(frame) = next {
            let admit = match conn.admit(&frame) {
                Admit::Gap(conversation, after) => {
                    let seq = frame.message_key.as_ref().map_or(after, |(_, seq)| *seq);
                    let mut last = after;
                    for message in conn.fill_gap(&conversation, after, seq).await {
                        if message.seq == last + 1 {
                            last = message.seq;
                            let text = ServerFrame::Message {
                                message: message.view(),
                            }
                            .to_json();
                            socket.feed(Message::Text(text.into())).await?;
                            conn.mark_written(&conversation, message.seq);
                        }
                    }
                    if conn.gap_before(&frame) {
                        // Not fillable now: the client resumes from what it has (protocol §2.4).
                        conn.handle_close(CloseCode::Restart);
                        break;
                    }
                    conn.mark_written(&conversation, seq);
                    Admit::Write
                }
                other => other,
            };
            if matches!(admit, Admit::Write) {
                socket.feed(Message::Text(frame.text.clone())).await?;
                if let Some(published_at) = frame.published_at {
                    let now = *now.get_or_insert_with(Instant::now);
                    tally.observe(now.saturating_duration_since(published_at));
                }
            }
            written += 1;
            next = if written < BATCH {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        metrics
            .messages_delivered
            .fetch_add(tally.count(), Ordering::Relaxed);
        metrics.send_to_deliver.merge(&tally);
        socket.flush().await
    };
    matches!(tokio::time::timeout(WRITE_TIMEOUT, write).await, Ok(Ok(())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A socket that never yields and swallows writes: enough to build the connection future.
    struct NullSocket;

    impl Stream for NullSocket {
        type Item = Result<Message, axum::Error>;
        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Pending
        }
    }

    impl Sink<Message> for NullSocket {
        type Error = axum::Error;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(self: Pin<&mut Self>, _: Message) -> Result<(), Self::Error> {
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Every idle connection holds one such future: keep it small (the 10 KiB per connection budget).
    #[tokio::test]
    async fn the_connection_task_stays_small() {
        let dir = tempfile::tempdir().unwrap();
        let options = crate::server::StateOptions {
            storage_path: dir.path().join("chat.db"),
            durability: cc_store_sqlite::Durability::Normal,
            keys_dir: dir.path().join("keys"),
            create_keys: true,
            admin_token: None,
            gateway: crate::config::GatewaySettings::default(),
            limits: cc_core::CoreLimits::default(),
        };
        let state = crate::server::build_state(options).await.unwrap();
        let principal = Principal {
            app_id: "a".into(),
            user_id: "u".into(),
            token_id: "t".into(),
            expires_at_ms: 0,
        };
        let future = serve(
            NullSocket,
            state,
            principal,
            SessionId::from("s"),
            String::new(),
        );
        let size = std::mem::size_of_val(&future);
        println!("connection future: {size} bytes");
        assert!(size <= 1408, "the connection future is {size} bytes");
    }
}
