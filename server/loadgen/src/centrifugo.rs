//! The same load against Centrifugo (v6), the peer named for side-by-side runs: one channel per
//! planned conversation, every user subscribed to its conversations, sends published by the client
//! (`allow_publish_for_subscriber`), and deliveries checked and timed exactly as against ccserver.
//!
//! Centrifugo's client protocol, JSON flavour: commands `{"id":N,"connect"|"subscribe"|"publish":{…}}`,
//! replies `{"id":N,"connect"|…:{…}}` or `{"id":N,"error":{…}}`, publications
//! `{"push":{"channel":…,"pub":{"data":…,"offset":…}}}`, and `{}` as the server's ping, answered with
//! `{}`. One WebSocket frame may carry several of these, one per line.
//!
//! What maps onto the delivery ledger: a channel with history numbers its publications 1, 2, 3, …
//! (`offset`), which plays the part of ccserver's `seq`. A publish reply carries no offset, but every
//! publication to a run's channel comes from this run, so the k-th acknowledged publish of a channel
//! is offset k. Not covered: recovery after a reconnect (the peer runs expect none; a reconnect
//! resubscribes from the live position, and what it missed counts as lost).

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{SinkExt as _, StreamExt as _};
use hmac::{Hmac, Mac as _};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message;

use crate::connection::{
    Endpoint, InFlight, IncomingBody, IncomingMessage, SessionEnd, SessionState, Shared, Socket,
    acknowledge, on_message, stamp_text, text_of,
};

/// Request ids (Centrifugo's are 32-bit): 1 for `connect`, 2.. for the subscriptions, and this plus
/// the message number for publishes, so that a reply names the send it answers.
const PUBLISH_ID_BASE: u64 = 1 << 24;
const MAX_ID: u64 = u32::MAX as u64;
const CONNECT_ID: u64 = 1;

/// An HS256 connection token for `user` (Centrifugo's `client.token.hmac_secret_key`).
pub fn token(secret: &str, user: &str, expires_at_secs: u64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = serde_json::json!({"sub": user, "exp": expires_at_secs});
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    // HMAC accepts a key of any length: `new_from_slice` cannot fail here.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// One line of a server frame; fields not listed are skipped without allocating.
#[derive(Deserialize)]
struct Reply<'a> {
    #[serde(default)]
    id: Option<u64>,
    #[serde(borrow, default)]
    error: Option<ReplyError<'a>>,
    #[serde(borrow, default)]
    push: Option<Push<'a>>,
}

#[derive(Deserialize)]
struct ReplyError<'a> {
    code: u32,
    #[serde(borrow, default)]
    message: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Push<'a> {
    #[serde(borrow)]
    channel: Cow<'a, str>,
    #[serde(borrow, default, rename = "pub")]
    publication: Option<Publication<'a>>,
}

#[derive(Deserialize)]
struct Publication<'a> {
    #[serde(borrow)]
    data: IncomingBody<'a>,
    #[serde(default)]
    offset: i64,
}

/// What one line of a server frame asks of the session.
#[derive(Debug, PartialEq, Eq)]
enum Event<'a> {
    Ping,
    Connected,
    Subscribed,
    Published {
        number: u64,
    },
    Refused {
        id: u64,
        code: u32,
        message: Cow<'a, str>,
    },
    Publication {
        channel: Cow<'a, str>,
        offset: i64,
        text: Option<Cow<'a, str>>,
    },
    Other,
}

fn parse_line(line: &str) -> Option<Event<'_>> {
    if line.trim() == "{}" {
        return Some(Event::Ping);
    }
    let reply: Reply<'_> = serde_json::from_str(line).ok()?;
    Some(match (reply.id, reply.error, reply.push) {
        (Some(id), Some(error), _) => Event::Refused {
            id,
            code: error.code,
            message: error.message,
        },
        (Some(CONNECT_ID), None, _) => Event::Connected,
        (Some(id), None, _) if id >= PUBLISH_ID_BASE => Event::Published {
            number: id - PUBLISH_ID_BASE,
        },
        (Some(_), None, _) => Event::Subscribed,
        (
            None,
            _,
            Some(Push {
                channel,
                publication: Some(publication),
            }),
        ) => Event::Publication {
            channel,
            offset: publication.offset,
            text: publication.data.text,
        },
        _ => Event::Other,
    })
}

/// One connection's session against Centrifugo: connect, subscribe to every conversation, then send
/// what the scheduler hands over and check what arrives. The counterpart of `connection::session`.
pub(crate) async fn session(
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
    // Publishes are not idempotent here (no client message id): what was in flight when a previous
    // connection dropped is unknown, so it is neither resent nor expected.
    in_flight.clear();
    let connect = serde_json::json!({"id": CONNECT_ID, "connect": {"token": endpoint.token, "name": "cc-loadgen"}});
    if socket
        .send(Message::text(connect.to_string()))
        .await
        .is_err()
    {
        return SessionEnd::Dropped;
    }
    let mut unsubscribed = cursors.len();
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
                let mut answers: Vec<String> = Vec::new();
                for line in text.as_str().lines().filter(|line| !line.is_empty()) {
                    match parse_line(line) {
                        None => shared.count_error("unparsable server frame"),
                        Some(Event::Ping) => answers.push("{}".into()),
                        Some(Event::Connected) => {
                            for (index, (conversation, _)) in cursors.iter().enumerate() {
                                let channel = &shared.conversation_ids[*conversation as usize];
                                answers.push(serde_json::json!({"id": 2 + index as u64, "subscribe": {"channel": channel}}).to_string());
                            }
                        }
                        Some(Event::Subscribed) => {
                            unsubscribed = unsubscribed.saturating_sub(1);
                            if unsubscribed == 0 && !live {
                                live = true;
                                if let Some(dropped) = dropped_at.take() {
                                    shared.reconnect.record(dropped.elapsed().as_micros() as u64);
                                }
                                if !*resumed_once {
                                    *resumed_once = true;
                                    shared.ready.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        Some(Event::Published { number }) => acknowledge(number, None, false, in_flight, shared),
                        Some(Event::Refused { id, code, message }) => {
                            shared.count_error(&format!("centrifugo error {code}: {message}"));
                            if id >= PUBLISH_ID_BASE {
                                in_flight.remove(&(id - PUBLISH_ID_BASE));
                            }
                        }
                        Some(Event::Publication { channel, offset, text }) => {
                            let message = IncomingMessage {
                                conversation_id: channel,
                                seq: offset,
                                body: IncomingBody { text },
                            };
                            on_message(Some(&message), cursors, shared);
                        }
                        Some(Event::Other) => {}
                    }
                }
                for answer in answers {
                    if socket.feed(Message::text(answer)).await.is_err() {
                        return SessionEnd::Dropped;
                    }
                }
                if socket.flush().await.is_err() {
                    return SessionEnd::Dropped;
                }
            }
            command = commands.recv(), if live => {
                let Some(command) = command else { return SessionEnd::Stopped };
                let mut batch = vec![command];
                while let Ok(more) = commands.try_recv() {
                    batch.push(more);
                }
                for command in batch {
                    if PUBLISH_ID_BASE + command.number > MAX_ID {
                        shared.count_error("more sends than Centrifugo's 32-bit request ids can name");
                        continue;
                    }
                    let sent_at_micros = shared.now_micros();
                    let text = stamp_text(command.conversation, sent_at_micros, command.number);
                    let publish = serde_json::json!({
                        "id": PUBLISH_ID_BASE + command.number,
                        "publish": {
                            "channel": shared.conversation_ids[command.conversation as usize],
                            "data": {"text": text},
                        },
                    });
                    in_flight.insert(command.number, InFlight { conversation: command.conversation, sent_at_micros, text });
                    if socket.feed(Message::text(publish.to_string())).await.is_err() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_hs256_jwts_over_the_user() {
        let token = token("secret", "lg1-0", 2_000_000_000);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["sub"], "lg1-0");
        assert_eq!(claims["exp"], 2_000_000_000_u64);
        // The signature is HMAC-SHA256 of `header.payload` under the secret.
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap())
            .unwrap();
        assert_ne!(token, super::token("other", "lg1-0", 2_000_000_000));
    }

    #[test]
    fn reads_each_kind_of_line() {
        assert_eq!(parse_line("{}"), Some(Event::Ping));
        assert_eq!(
            parse_line(r#"{"id":1,"connect":{"client":"c","version":"6","ping":25,"pong":true}}"#),
            Some(Event::Connected)
        );
        assert_eq!(
            parse_line(r#"{"id":3,"subscribe":{"recoverable":true,"epoch":"x","offset":4}}"#),
            Some(Event::Subscribed)
        );
        assert_eq!(
            parse_line(&format!(
                r#"{{"id":{},"publish":{{}}}}"#,
                PUBLISH_ID_BASE + 7
            )),
            Some(Event::Published { number: 7 })
        );
        assert_eq!(
            parse_line(r#"{"id":2,"error":{"code":103,"message":"permission denied"}}"#),
            Some(Event::Refused {
                id: 2,
                code: 103,
                message: "permission denied".into()
            })
        );
        assert_eq!(
            parse_line(
                r#"{"push":{"channel":"lg-3","pub":{"data":{"text":"lg 3 10 1"},"offset":5}}}"#
            ),
            Some(Event::Publication {
                channel: "lg-3".into(),
                offset: 5,
                text: Some("lg 3 10 1".into())
            })
        );
        assert_eq!(parse_line("not json"), None);
    }
}
