//! Client ops: parse, call the domain service, answer with frames. Transport-free.

use super::handle::{ConnHandle, OutFrame};
use crate::state::AppState;
use cc_core::ids::{ConversationId, MessageId, UserId, now_ms};
use cc_core::service::{ReplayOutcome, SendRequest};
use cc_core::{DomainError, Principal};
use cc_protocol::{AckFrame, ClientFrame, ResumeFrame, ServerFrame, parse_client_frame};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Per-connection state the ops need.
pub(crate) struct Conn {
    pub state: AppState,
    pub principal: Principal,
    handle: Arc<ConnHandle>,
    /// Highest `seq` a resume sent per conversation: queued live copies up to it are skipped.
    replayed: HashMap<ConversationId, i64, foldhash::fast::FixedState>,
}

/// See [`Conn::admit`].
pub(crate) enum Admit {
    Write,
    Skip,
    /// (conversation, last `seq` written)
    Gap(ConversationId, i64),
}

impl Conn {
    pub fn new(state: AppState, principal: Principal, handle: Arc<ConnHandle>) -> Self {
        Self {
            state,
            principal,
            handle,
            replayed: HashMap::default(),
        }
    }

    /// What to do with a queued live frame, in one look-up of its conversation: write it, skip it
    /// (a resume already sent it), or first fill the gap before it — for a live `message` of a
    /// resumed conversation that skips `seq`s after the last one this connection wrote: the last line
    /// of defence for the no-silent-gap rule, whatever upstream missed it (a fan-out before this
    /// connection went live that a stale read did not replay). A frame to write is recorded as
    /// written.
    pub fn admit(&mut self, frame: &OutFrame) -> Admit {
        let Some((conversation, seq)) = &frame.message_key else {
            return Admit::Write;
        };
        let Some(upto) = self.replayed.get_mut(conversation) else {
            return Admit::Write;
        };
        if *seq <= *upto {
            Admit::Skip
        } else if *seq > *upto + 1 {
            Admit::Gap(conversation.clone(), *upto)
        } else {
            *upto = *seq;
            Admit::Write
        }
    }

    /// The `Gap` of [`Self::admit`] without recording anything: is there still one before `frame`?
    pub fn gap_before(&self, frame: &OutFrame) -> bool {
        frame
            .message_key
            .as_ref()
            .is_some_and(|(conversation, seq)| {
                self.replayed
                    .get(conversation)
                    .is_some_and(|upto| *seq > *upto + 1)
            })
    }

    /// Asks this connection to close (the client reconnects and resumes).
    pub fn handle_close(&self, code: cc_protocol::CloseCode) {
        self.handle.request_close(code);
    }

    /// Records that `seq` of a resumed conversation was written.
    pub fn mark_written(&mut self, conversation: &ConversationId, seq: i64) {
        if let Some(upto) = self.replayed.get_mut(conversation)
            && seq > *upto
        {
            *upto = seq;
        }
    }

    /// The messages between `after` and `before` (exclusive), from the store, for `gap_before`.
    pub async fn fill_gap(
        &self,
        conversation: &ConversationId,
        after: i64,
        before: i64,
    ) -> Vec<cc_core::model::Message> {
        let missing = u32::try_from(before - after - 1)
            .unwrap_or(u32::MAX)
            .min(1_000);
        match self
            .state
            .service
            .history(
                &self.principal,
                conversation,
                cc_core::store::HistoryPage::After(after),
                missing,
            )
            .await
        {
            Ok(messages) => messages.into_iter().filter(|m| m.seq < before).collect(),
            Err(error) => {
                tracing::warn!(%error, %conversation, "live gap not filled for a connection");
                Vec::new()
            }
        }
    }
}

fn error_frame(conn: &Conn, id: Option<String>, error: &DomainError) -> ServerFrame {
    conn.state.metrics.error(error.code());
    ServerFrame::Error {
        id,
        code: error.body.code,
        message: error.body.message.clone(),
        details: error.body.details.clone(),
    }
}

fn ack(id: Option<String>) -> ServerFrame {
    ServerFrame::Ack(AckFrame {
        id,
        server_time_ms: now_ms(),
        ..AckFrame::default()
    })
}

pub(crate) async fn handle_text(conn: &mut Conn, text: &str) -> Vec<ServerFrame> {
    let frame = match parse_client_frame(text) {
        Ok(frame) => frame,
        Err(error) => {
            conn.state.metrics.error(error.body.code);
            return vec![ServerFrame::Error {
                id: error.id,
                code: error.body.code,
                message: error.body.message,
                details: error.body.details,
            }];
        }
    };
    let id = frame.request_id().map(str::to_owned);
    match handle(conn, frame).await {
        Ok(frames) => frames,
        Err(error) => vec![error_frame(conn, id, &error)],
    }
}

async fn handle(conn: &mut Conn, frame: ClientFrame) -> Result<Vec<ServerFrame>, DomainError> {
    let service = Arc::clone(&conn.state.service);
    let principal = &conn.principal;
    let answer = match frame {
        ClientFrame::Send(send) => {
            let request = SendRequest {
                conversation_id: ConversationId(send.conversation_id),
                client_msg_id: send.client_msg_id,
                body: send.body,
                parent_id: send.parent_id.map(MessageId),
                mentions: send.mentions.into_iter().map(UserId).collect(),
            };
            let (message, duplicate) = service.send_message(principal, request).await?;
            if !duplicate {
                conn.state
                    .metrics
                    .messages_sent
                    .fetch_add(1, Ordering::Relaxed);
            }
            vec![ServerFrame::Ack(AckFrame {
                id: send.id,
                conversation_id: Some(message.conversation_id.0),
                message_id: Some(message.id.0),
                client_msg_id: Some(message.client_msg_id),
                seq: Some(message.seq),
                server_time_ms: now_ms(),
                duplicate: Some(duplicate),
                replayed: None,
            })]
        }
        ClientFrame::Edit(edit) => {
            service
                .edit_message(
                    principal,
                    &ConversationId(edit.conversation_id),
                    &MessageId(edit.message_id),
                    edit.body,
                )
                .await?;
            vec![ack(edit.id)]
        }
        ClientFrame::Delete(delete) => {
            service
                .delete_message(
                    principal,
                    &ConversationId(delete.conversation_id),
                    &MessageId(delete.message_id),
                )
                .await?;
            vec![ack(delete.id)]
        }
        ClientFrame::React(react) => {
            service
                .react(
                    principal,
                    &ConversationId(react.conversation_id),
                    &MessageId(react.message_id),
                    &react.emoji,
                    !react.remove,
                )
                .await?;
            vec![ack(react.id)]
        }
        ClientFrame::Typing(typing) => {
            service
                .typing(
                    principal,
                    &ConversationId(typing.conversation_id),
                    typing.active,
                )
                .await?;
            Vec::new()
        }
        ClientFrame::MarkDelivered(mark) => {
            service
                .mark(
                    principal,
                    &ConversationId(mark.conversation_id),
                    Some(mark.seq),
                    None,
                )
                .await?;
            vec![ack(mark.id)]
        }
        ClientFrame::MarkRead(mark) => {
            service
                .mark(
                    principal,
                    &ConversationId(mark.conversation_id),
                    None,
                    Some(mark.seq),
                )
                .await?;
            vec![ack(mark.id)]
        }
        ClientFrame::Resume(resume) => resume_frames(conn, resume).await,
        ClientFrame::Ping(ping) => vec![ServerFrame::Pong { id: ping.id }],
    };
    Ok(answer)
}

/// Go live first, then read the store: anything committed meanwhile is both queued and replayed,
/// and the queued copy is skipped by `Conn::admit`. Nothing falls between the two.
async fn resume_frames(conn: &mut Conn, resume: ResumeFrame) -> Vec<ServerFrame> {
    conn.handle.set_live();
    let service = Arc::clone(&conn.state.service);
    let mut frames = Vec::new();
    let mut replayed = 0_u64;
    for (conversation, last_seq) in resume.conversations.into_iter().take(1000) {
        let conversation = ConversationId(conversation);
        match service
            .replay(&conn.principal, &conversation, last_seq)
            .await
        {
            Ok(ReplayOutcome::Messages(messages)) => {
                let upto = messages.last().map_or(last_seq, |m| m.seq);
                replayed += messages.len() as u64;
                frames.extend(
                    messages
                        .iter()
                        .map(|m| ServerFrame::Message { message: m.view() }),
                );
                conn.replayed.insert(conversation, upto);
            }
            Ok(ReplayOutcome::Reset { latest_seq }) => {
                frames.push(ServerFrame::Reset {
                    conversation_id: conversation.0.clone(),
                    latest_seq,
                    reason: "replay_window_exceeded".into(),
                });
                conn.replayed.insert(conversation, latest_seq);
            }
            Err(error) => {
                let error =
                    error.with_details(serde_json::json!({"conversation_id": conversation.0}));
                frames.push(error_frame(conn, resume.id.clone(), &error));
            }
        }
    }
    frames.push(ServerFrame::Ack(AckFrame {
        id: resume.id,
        server_time_ms: now_ms(),
        replayed: Some(replayed),
        ..AckFrame::default()
    }));
    frames
}
