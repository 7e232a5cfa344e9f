//! One load-generator connection: a WebSocket from its own loopback source address, sending what the
//! scheduler hands it and checking every frame it receives against the delivery contract.
//!
//! Every send carries `lg <conversation index> <send time µs> <number>` as its text, so the receiving side
//! measures send-to-deliver latency without any shared table; acks go to the per-conversation ledger.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cc_protocol::{ClientFrame, MessageBody, ResumeFrame, SendFrame};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::args::Peer;
use crate::histogram::Histogram;
use crate::ledger::{ConversationAcks, Cursor, Observation};
use crate::workload::source_address;

/// State every connection task reports into.
#[derive(Debug)]
pub struct Shared {
    pub epoch: Instant,
    pub conversation_ids: Vec<String>,
    pub send_to_deliver: Histogram,
    /// Send-to-deliver by the second of the run a message was sent in (the last one also takes
    /// anything later): shows whether a run fell behind from the start or along the way.
    pub timeline: Vec<Histogram>,
    /// When sending began (µs since `epoch`); the timeline's second 0.
    pub send_started_micros: AtomicU64,
    pub send_to_ack: Histogram,
    /// From a connection found dropped to the `ack` of its `resume` on the new connection.
    pub reconnect: Histogram,
    pub deliveries: AtomicU64,
    /// Deliveries of a `seq` the connection had not received before (what the drain waits for).
    pub fresh_deliveries: AtomicU64,
    pub acked: AtomicU64,
    pub ready: AtomicU32,
    pub disconnects: AtomicU64,
    pub resends: AtomicU64,
    pub acks: Vec<Mutex<ConversationAcks>>,
    pub errors: Mutex<BTreeMap<String, u64>>,
    /// When set, this share of sends goes through REST.
    pub rest: Option<RestSends>,
}

/// Sends through the REST API (to reach the API replicas behind a balancer).
#[derive(Debug, Clone)]
pub struct RestSends {
    pub client: reqwest::Client,
    pub base: String,
    pub share: f64,
}

impl Shared {
    pub fn new(conversation_ids: Vec<String>, timeline_secs: usize) -> Self {
        let acks = conversation_ids
            .iter()
            .map(|_| Mutex::new(ConversationAcks::default()))
            .collect();
        Self {
            epoch: Instant::now(),
            conversation_ids,
            send_to_deliver: Histogram::new(),
            timeline: (0..timeline_secs.max(1))
                .map(|_| Histogram::new())
                .collect(),
            send_started_micros: AtomicU64::new(0),
            send_to_ack: Histogram::new(),
            reconnect: Histogram::new(),
            deliveries: AtomicU64::new(0),
            fresh_deliveries: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            ready: AtomicU32::new(0),
            disconnects: AtomicU64::new(0),
            resends: AtomicU64::new(0),
            acks,
            errors: Mutex::new(BTreeMap::new()),
            rest: None,
        }
    }

    pub fn now_micros(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    pub fn count_error(&self, code: &str) {
        if let Ok(mut errors) = self.errors.lock() {
            *errors.entry(code.to_owned()).or_default() += 1;
        }
    }
}

/// Where and as whom one connection connects.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub index: u32,
    pub token: String,
    pub server: SocketAddr,
    pub ws_url: String,
    pub source_addresses: u32,
    pub peer: Peer,
}

/// A message to send: conversation index and a run-wide message number.
#[derive(Debug, Clone, Copy)]
pub struct SendCommand {
    pub conversation: u32,
    pub number: u64,
}

pub type Socket = WebSocketStream<TcpStream>;

/// Small read buffers: the reference measurements show 128 KiB defaults cost ~135 KB per connection.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096)
}

pub async fn open(endpoint: &Endpoint) -> anyhow::Result<Socket> {
    let source = source_address(endpoint.index, endpoint.source_addresses);
    let socket = TcpSocket::new_v4().context("creating a TCP socket")?;
    socket
        .bind(SocketAddr::new(source.into(), 0))
        .with_context(|| format!("binding to {source} (is 127.0.0.0/8 routed to lo?)"))?;
    let stream = tokio::time::timeout(Duration::from_secs(10), socket.connect(endpoint.server))
        .await
        .with_context(|| format!("connecting from {source} to {}: timed out", endpoint.server))?
        .with_context(|| format!("connecting from {source} to {}", endpoint.server))?;
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    // Centrifugo takes its token in the first command instead.
    let url = match endpoint.peer {
        Peer::Ccserver => format!(
            "{}?token={}&device=loadgen",
            endpoint.ws_url, endpoint.token
        ),
        Peer::Centrifugo => endpoint.ws_url.clone(),
    };
    let (socket, _response) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config())),
    )
    .await
    .context("WebSocket handshake timed out")?
    .context("WebSocket handshake")?;
    Ok(socket)
}

/// The frames the checker reads; everything else in a frame is skipped without allocating.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow)]
    op: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    /// A `message` frame's message, or an `error` frame's text.
    #[serde(borrow, default)]
    message: Option<MessageField<'a>>,
    #[serde(default)]
    seq: Option<i64>,
    #[serde(default)]
    duplicate: Option<bool>,
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
}

/// `untagged` would buffer the whole value into serde's generic tree (an allocation per field of
/// every delivery) before trying each variant; at hundreds of thousands of deliveries a second that
/// was most of the checker's CPU. This dispatches on the value's shape instead.
enum MessageField<'a> {
    Message(IncomingMessage<'a>),
    Text,
}

impl<'a> MessageField<'a> {
    fn as_message(&self) -> Option<&IncomingMessage<'a>> {
        match self {
            Self::Message(message) => Some(message),
            Self::Text => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for MessageField<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Shape<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Shape<'a> {
            type Value = MessageField<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a message object or an error text")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                map: M,
            ) -> Result<Self::Value, M::Error> {
                IncomingMessage::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(MessageField::Message)
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(MessageField::Text)
            }
        }
        deserializer.deserialize_any(Shape(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
pub(crate) struct IncomingMessage<'a> {
    #[serde(borrow)]
    pub conversation_id: Cow<'a, str>,
    pub seq: i64,
    #[serde(borrow)]
    pub body: IncomingBody<'a>,
}

#[derive(Deserialize)]
pub(crate) struct IncomingBody<'a> {
    #[serde(borrow, default)]
    pub text: Option<Cow<'a, str>>,
}

/// The text every send carries: what `parse_stamp` reads back on delivery.
pub(crate) fn stamp_text(conversation: u32, sent_at_micros: u64, number: u64) -> String {
    format!("lg {conversation} {sent_at_micros} {number}")
}

/// `lg <conversation> <send µs> <number>` → (conversation, send µs, number).
fn parse_stamp(text: &str) -> Option<(u32, u64, u64)> {
    let mut parts = text.split(' ');
    if parts.next()? != "lg" {
        return None;
    }
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

/// A send not yet acknowledged: resent with the same `client_msg_id` after a reconnect.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    pub conversation: u32,
    pub sent_at_micros: u64,
    pub text: String,
}

/// Runs one connection until `stop` turns true, reconnecting (and resuming) when the server drops it.
/// Returns the per-conversation cursors for the final count.
pub async fn run(
    endpoint: Endpoint,
    mut socket: Socket,
    conversations: Vec<u32>,
    shared: Arc<Shared>,
    commands: mpsc::Receiver<SendCommand>,
    stop: watch::Receiver<bool>,
) -> Vec<(u32, Cursor)> {
    let mut state = SessionState {
        cursors: conversations
            .iter()
            .map(|c| (*c, Cursor::starting_after(0)))
            .collect(),
        in_flight: HashMap::new(),
        commands,
        stop,
        resumed_once: false,
        dropped_at: None,
    };
    loop {
        let outcome = match endpoint.peer {
            Peer::Ccserver => session(&endpoint, &mut socket, &mut state, &shared).await,
            Peer::Centrifugo => {
                crate::centrifugo::session(&endpoint, &mut socket, &mut state, &shared).await
            }
        };
        if *state.stop.borrow() || outcome == SessionEnd::Stopped {
            let _ = socket.close(None).await;
            return state.cursors;
        }
        shared.disconnects.fetch_add(1, Ordering::Relaxed);
        state.dropped_at = Some(Instant::now());
        // Reconnect with full-jitter backoff until stopped; the resume cursors carry on from what we saw.
        let mut attempt = 0u32;
        socket = loop {
            let cap_ms = 100u64 << attempt.min(6);
            let delay = Duration::from_millis(rand::random_range(0..=cap_ms));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = state.stop.changed() => return state.cursors,
            }
            match open(&endpoint).await {
                Ok(socket) => break socket,
                Err(error) => {
                    shared.count_error(&format!("reconnect: {}", error.root_cause()));
                    attempt += 1;
                }
            }
        };
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SessionEnd {
    Stopped,
    Dropped,
}

/// What one connection carries from one session (WebSocket) to the next.
pub(crate) struct SessionState {
    pub cursors: Vec<(u32, Cursor)>,
    /// Sends not yet acknowledged, by number.
    pub in_flight: HashMap<u64, InFlight>,
    pub commands: mpsc::Receiver<SendCommand>,
    pub stop: watch::Receiver<bool>,
    pub resumed_once: bool,
    /// Set when the connection is found dropped; the first answer on the next one records the
    /// reconnect time.
    pub dropped_at: Option<Instant>,
}

/// The text of a frame read from the server; `Ok(None)` for frames to skip, `Err` when the session
/// ended (counted).
pub(crate) fn text_of(
    frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    shared: &Shared,
) -> Result<Option<tokio_tungstenite::tungstenite::Utf8Bytes>, SessionEnd> {
    match frame {
        Some(Ok(Message::Text(text))) => Ok(Some(text)),
        Some(Ok(Message::Close(close))) => {
            let code = close.map_or(1005, |c| u16::from(c.code));
            shared.count_error(&format!("closed by server: {code}"));
            Err(SessionEnd::Dropped)
        }
        Some(Ok(_)) => Ok(None),
        Some(Err(error)) => {
            shared.count_error(&format!("read: {error}"));
            Err(SessionEnd::Dropped)
        }
        None => Err(SessionEnd::Dropped),
    }
}

async fn session(
    endpoint: &Endpoint,
    socket: &mut Socket,
    state: &mut SessionState,
    shared: &Arc<Shared>,
) -> SessionEnd {
    let SessionState {
        cursors,
        in_flight,
        commands,
        stop,
        resumed_once,
        dropped_at,
    } = state;
    let mut live = false;
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return SessionEnd::Stopped,
            frame = socket.next() => {
                let text = match text_of(frame, shared) {
                    Ok(Some(text)) => text,
                    Ok(None) => continue,
                    Err(end) => return end,
                };
                let Ok(frame) = serde_json::from_str::<Incoming>(&text) else {
                    shared.count_error("unparsable server frame");
                    continue;
                };
                match frame.op.as_ref() {
                    "hello" => {
                        let resume = ClientFrame::Resume(ResumeFrame {
                            id: Some("resume".into()),
                            // Every joined conversation, those with nothing received yet included (from
                            // their base `seq`): protocol §2.4 replays only listed conversations, so one
                            // left out would lose what was sent to it while this connection was away.
                            conversations: cursors
                                .iter()
                                .map(|(c, cursor)| (shared.conversation_ids[*c as usize].clone(), cursor.last_seq))
                                .collect(),
                        });
                        if send_json(socket, &resume).await.is_err() {
                            return SessionEnd::Dropped;
                        }
                    }
                    "ack" if frame.id.as_deref() == Some("resume") => {
                        live = true;
                        if let Some(dropped) = dropped_at.take() {
                            shared.reconnect.record(dropped.elapsed().as_micros() as u64);
                        }
                        if !*resumed_once {
                            *resumed_once = true;
                            shared.ready.fetch_add(1, Ordering::Relaxed);
                        }
                        // Unacknowledged sends go again with the same client_msg_id: idempotent by contract.
                        let pending: Vec<(u64, InFlight)> = in_flight.iter().map(|(n, f)| (*n, f.clone())).collect();
                        for (number, flight) in pending {
                            shared.resends.fetch_add(1, Ordering::Relaxed);
                            if socket.feed(Message::text(send_frame(shared, number, &flight))).await.is_err() {
                                return SessionEnd::Dropped;
                            }
                        }
                        if socket.flush().await.is_err() {
                            return SessionEnd::Dropped;
                        }
                    }
                    "ack" => on_ack(&frame, in_flight, shared),
                    "message" => on_message(frame.message.as_ref().and_then(MessageField::as_message), cursors, shared),
                    "error" => {
                        let code = frame.code.as_deref().unwrap_or("unknown");
                        shared.count_error(code);
                        if let Some(number) = frame.id.as_deref().and_then(|id| id.strip_prefix('s')).and_then(|n| n.parse().ok()) {
                            // Refused, so never committed: not expected anywhere.
                            in_flight.remove(&number);
                        }
                    }
                    "reset" => shared.count_error("reset"),
                    _ => {}
                }
            }
            command = commands.recv(), if live => {
                let Some(command) = command else { return SessionEnd::Stopped };
                // Batch whatever else is queued into one flush.
                let mut batch = vec![command];
                while let Ok(more) = commands.try_recv() {
                    batch.push(more);
                }
                for command in batch {
                    let sent_at_micros = shared.now_micros();
                    let flight = InFlight {
                        conversation: command.conversation,
                        sent_at_micros,
                        text: stamp_text(command.conversation, sent_at_micros, command.number),
                    };
                    if let Some(rest) = shared.rest.as_ref().filter(|rest| rand::random::<f64>() < rest.share) {
                        tokio::spawn(send_through_rest(rest.clone(), endpoint.token.clone(), Arc::clone(shared), command.number, flight, stop.clone()));
                        continue;
                    }
                    let frame = send_frame(shared, command.number, &flight);
                    in_flight.insert(command.number, flight);
                    if socket.feed(Message::text(frame)).await.is_err() {
                        return SessionEnd::Dropped;
                    }
                }
                if socket.flush().await.is_err() {
                    return SessionEnd::Dropped;
                }
            }
        }
    }
}

fn send_frame(shared: &Shared, number: u64, flight: &InFlight) -> String {
    let frame = ClientFrame::Send(SendFrame {
        id: Some(format!("s{number}")),
        conversation_id: shared.conversation_ids[flight.conversation as usize].clone(),
        client_msg_id: format!("lg-{number}"),
        body: MessageBody::Text {
            text: flight.text.clone(),
        },
        parent_id: None,
        mentions: Vec::new(),
    });
    serde_json::to_string(&frame).unwrap_or_default()
}

async fn send_json(
    socket: &mut Socket,
    frame: &ClientFrame,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    socket
        .send(Message::text(
            serde_json::to_string(frame).unwrap_or_default(),
        ))
        .await
}

/// One REST send, retried with the same `client_msg_id` (idempotent) after a transport error or a 5xx until
/// it is answered or the run stops; a 4xx answer is counted as an error (nothing was committed).
async fn send_through_rest(
    rest: RestSends,
    token: String,
    shared: Arc<Shared>,
    number: u64,
    flight: InFlight,
    mut stop: watch::Receiver<bool>,
) {
    #[derive(Deserialize)]
    struct Sent {
        message: SentMessage,
        duplicate: bool,
    }
    #[derive(Deserialize)]
    struct SentMessage {
        seq: i64,
    }
    let url = format!(
        "{}/v1/conversations/{}/messages",
        rest.base, shared.conversation_ids[flight.conversation as usize]
    );
    let body = serde_json::json!({
        "client_msg_id": format!("lg-{number}"),
        "body": {"type": "text", "text": flight.text},
    });
    let mut attempt = 0_u32;
    loop {
        let answer = rest
            .client
            .post(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await;
        match answer {
            Ok(response) if response.status().is_success() => {
                let Ok(sent) = response.json::<Sent>().await else {
                    shared.count_error("rest: unreadable send answer");
                    return;
                };
                shared
                    .send_to_ack
                    .record(shared.now_micros().saturating_sub(flight.sent_at_micros));
                shared.acked.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut acks) = shared.acks[flight.conversation as usize].lock() {
                    acks.record(sent.message.seq, sent.duplicate);
                    acks.identify(number, sent.message.seq);
                }
                return;
            }
            Ok(response) if response.status().is_client_error() => {
                shared.count_error(&format!("rest: {}", response.status()));
                return;
            }
            Ok(response) => shared.count_error(&format!("rest: {} (retried)", response.status())),
            Err(error) => shared.count_error(&format!(
                "rest: {} (retried)",
                if error.is_timeout() {
                    "timeout"
                } else {
                    "transport error"
                }
            )),
        }
        if attempt > 0 {
            shared.resends.fetch_add(1, Ordering::Relaxed);
        }
        attempt += 1;
        let delay = Duration::from_millis(rand::random_range(0..=(50_u64 << attempt.min(5))));
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
    }
}

fn on_ack(frame: &Incoming<'_>, in_flight: &mut HashMap<u64, InFlight>, shared: &Shared) {
    let Some(number) = frame
        .id
        .as_deref()
        .and_then(|id| id.strip_prefix('s'))
        .and_then(|n| n.parse::<u64>().ok())
    else {
        return;
    };
    if frame.seq.is_some() {
        acknowledge(
            number,
            frame.seq,
            frame.duplicate.unwrap_or(false),
            in_flight,
            shared,
        );
    }
}

/// Records the acknowledgement of send `number` with its `seq`; without one (a peer's publish
/// reply), the conversation's next: every send to a run's conversation comes from the run.
pub(crate) fn acknowledge(
    number: u64,
    seq: Option<i64>,
    duplicate: bool,
    in_flight: &mut HashMap<u64, InFlight>,
    shared: &Shared,
) {
    let Some(flight) = in_flight.remove(&number) else {
        return;
    };
    shared
        .send_to_ack
        .record(shared.now_micros().saturating_sub(flight.sent_at_micros));
    shared.acked.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut acks) = shared.acks[flight.conversation as usize].lock() {
        if let Some(seq) = seq {
            acks.record(seq, duplicate);
            acks.identify(number, seq);
        } else {
            // Acks of concurrent senders may cross: the k-th is offset k, but not necessarily
            // this send's, so the number is matched to its offset only on delivery.
            let next = acks.acked.len() as i64 + 1;
            acks.record(next, duplicate);
        }
    }
}

pub(crate) fn on_message(
    message: Option<&IncomingMessage<'_>>,
    cursors: &mut [(u32, Cursor)],
    shared: &Shared,
) {
    let Some(message) = message else {
        shared.count_error("message frame without message");
        return;
    };
    let stamp = message.body.text.as_deref().and_then(parse_stamp);
    let Some((conversation, sent_at, number)) = stamp else {
        shared.count_error("message not sent by this run");
        return;
    };
    if shared
        .conversation_ids
        .get(conversation as usize)
        .map(String::as_str)
        != Some(message.conversation_id.as_ref())
    {
        shared.count_error("message in an unexpected conversation");
        return;
    }
    let Some((_, cursor)) = cursors.iter_mut().find(|(c, _)| *c == conversation) else {
        shared.count_error("message of a conversation this user is not in");
        return;
    };
    if cursor.observe(message.seq) != Observation::Duplicate {
        shared.fresh_deliveries.fetch_add(1, Ordering::Relaxed);
    }
    if let Ok(mut acks) = shared.acks[conversation as usize].lock() {
        acks.identify(number, message.seq);
    }
    shared.deliveries.fetch_add(1, Ordering::Relaxed);
    let latency = shared.now_micros().saturating_sub(sent_at);
    shared.send_to_deliver.record(latency);
    let second =
        sent_at.saturating_sub(shared.send_started_micros.load(Ordering::Relaxed)) / 1_000_000;
    let last = shared.timeline.len() - 1;
    shared.timeline[usize::try_from(second).map_or(last, |second| second.min(last))]
        .record(latency);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_error_frame_with_its_text() {
        let text = r#"{"op":"error","id":"s7","code":"unavailable","message":"storage unavailable","details":{}}"#;
        let frame: Incoming = serde_json::from_str(text).unwrap();
        assert_eq!(frame.code.as_deref(), Some("unavailable"));
        assert!(frame.message.unwrap().as_message().is_none());
    }

    #[test]
    fn deliveries_land_in_the_second_they_were_sent_in() {
        let shared = Shared::new(vec!["c0".into()], 3);
        shared
            .send_started_micros
            .store(5_000_000, Ordering::Relaxed);
        let mut cursors = vec![(0, Cursor::starting_after(0))];
        for (seq, sent_at) in [
            (1, 5_100_000_u64),
            (2, 6_200_000),
            (3, 6_900_000),
            (4, 60_000_000),
        ] {
            let text = stamp_text(0, sent_at, seq as u64);
            let message = IncomingMessage {
                conversation_id: "c0".into(),
                seq,
                body: IncomingBody {
                    text: Some(text.into()),
                },
            };
            on_message(Some(&message), &mut cursors, &shared);
        }
        let counts: Vec<u64> = shared.timeline.iter().map(Histogram::count).collect();
        // Second 0, second 1 (two), and the last slot for what came after the timeline's end.
        assert_eq!(counts, vec![1, 2, 1]);
        assert_eq!(shared.send_to_deliver.count(), 4);
    }

    #[test]
    fn stamps_round_trip() {
        assert_eq!(parse_stamp("lg 12 345678 9"), Some((12, 345_678, 9)));
        assert_eq!(parse_stamp("hello"), None);
        assert_eq!(parse_stamp("lg x 1 2"), None);
    }

    #[test]
    fn reads_a_message_frame_without_the_rest() {
        let text = r#"{"op":"message","message":{"id":"m","conversation_id":"c1","seq":4,"sender_id":"a","client_msg_id":"lg-1","body":{"type":"text","text":"lg 0 10 1"},"mentions":["b"],"reactions":{"x":1},"created_at_ms":1}}"#;
        let frame: Incoming = serde_json::from_str(text).unwrap();
        assert_eq!(frame.op, "message");
        let field = frame.message.unwrap();
        let message = field.as_message().unwrap();
        assert_eq!((message.conversation_id.as_ref(), message.seq), ("c1", 4));
        assert_eq!(message.body.text.as_deref(), Some("lg 0 10 1"));
    }
}
