//! Identifier newtypes: an id of one kind cannot be passed where another is expected.

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

string_id!(
    /// A tenant.
    AppId
);
string_id!(
    /// A user, chosen by the app (validated by [`crate::validate::user_id`]).
    UserId
);
string_id!(
    /// A conversation (server-generated UUIDv7).
    ConversationId
);
string_id!(
    /// A message (server-generated UUIDv7).
    MessageId
);
string_id!(
    /// One WebSocket connection of one device (server-generated UUIDv7).
    SessionId
);

/// A new time-ordered id: UUIDv7 keeps inserts append-mostly in B-trees, and its randomness spreads
/// writes in distributed stores better than a counter would.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}
