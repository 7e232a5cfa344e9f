//! WebSocket close codes the server uses (`docs/protocol.md` §2.6).

/// A close code with its documented meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    Normal,
    InvalidUtf8,
    TooBig,
    Internal,
    Restart,
    IdleTimeout,
    SessionRevoked,
    TokenExpired,
    SlowConsumer,
}

impl CloseCode {
    pub fn code(self) -> u16 {
        match self {
            Self::Normal => 1000,
            Self::InvalidUtf8 => 1007,
            Self::TooBig => 1009,
            Self::Internal => 1011,
            Self::Restart => 1012,
            Self::IdleTimeout => 4000,
            Self::SessionRevoked => 4001,
            Self::TokenExpired => 4003,
            Self::SlowConsumer => 4008,
        }
    }

    /// The short reason sent in the close frame.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Normal => "bye",
            Self::InvalidUtf8 => "invalid utf-8",
            Self::TooBig => "frame too large",
            Self::Internal => "internal error",
            Self::Restart => "server restart, resume elsewhere",
            Self::IdleTimeout => "idle timeout",
            Self::SessionRevoked => "session revoked",
            Self::TokenExpired => "token expired or user deactivated",
            Self::SlowConsumer => "slow consumer, resume",
        }
    }
}
