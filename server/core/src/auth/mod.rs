//! Credentials: hashed per-app API keys, EdDSA user tokens and the signing key ring.

pub mod api_key;
pub mod jwt;
pub mod key_ring;

pub use jwt::{Claims, TokenError};
pub use key_ring::{KeyRing, KeyRingError};
