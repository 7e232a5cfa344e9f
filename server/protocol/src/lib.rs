//! Wire types of the chat platform: WebSocket frames, REST bodies, error codes.
//!
//! This crate is the machine form of `docs/protocol.md`: the server, the load generator and test
//! clients all speak through these types, so a change here is a protocol change.

mod body;
mod client;
mod close;
mod error;
mod parse;
pub mod rest;
mod server;

pub use body::{MessageBody, MessageView};
pub use client::{
    ClientFrame, DeleteFrame, EditFrame, MarkFrame, PingFrame, ReactFrame, ResumeFrame, SendFrame,
    TypingFrame,
};
pub use close::CloseCode;
pub use error::{ErrorBody, ErrorCode};
pub use parse::{FrameError, classify_body_error, parse_client_frame};
pub use server::{
    AckFrame, HelloFrame, Limits, MembershipAction, PresenceStatus, ReceiptFrame, ServerFrame,
    UpdateKind,
};

/// The protocol version announced in `hello`; bumped on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 1;
