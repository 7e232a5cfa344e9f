//! Flexible metadata of the chat platform on MongoDB (tested on FerretDB).
//!
//! * [`MongoMetadata`]: user and conversation custom data (one document per subject, versioned for optimistic
//!   concurrency) and an append-only audit collection, the seam for the moderation records of the next issue.
//!   Writes use majority write concern with journaling, reads majority read concern: an acknowledged metadata
//!   write survives the loss of the primary.
//! * [`MetaStore`]: a [`Store`](cc_core::store::Store) decorator that keeps the `metadata` of users and
//!   conversations in MongoDB instead of the primary store, without the domain knowing.

mod metadata;
mod store;

pub use metadata::{AuditRecord, MetaError, Metadata, MongoConfig, MongoMetadata, Subject};
pub use store::MetaStore;
