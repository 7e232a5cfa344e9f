//! The hash bucket leading every conversation-scoped primary key.

use cc_core::ids::ConversationId;

/// Number of buckets: enough key ranges for TiDB to split and spread over TiKV stores; part of the schema
/// (changing it needs a data migration).
pub const BUCKETS: u32 = 64;

/// FNV-1a 32 of the conversation id, modulo [`BUCKETS`]: stable across versions and platforms.
pub fn bucket_of(conversation_id: &ConversationId) -> i16 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in conversation_id.0.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash % BUCKETS) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_spread_time_ordered_ids() {
        assert_eq!(bucket_of(&"a".into()), bucket_of(&"a".into()));
        // 1,000 UUIDv7 ids made in the same millisecond range land in most buckets.
        let used: std::collections::BTreeSet<i16> = (0..1000)
            .map(|_| bucket_of(&ConversationId(uuid::Uuid::now_v7().to_string())))
            .collect();
        assert!(used.len() > 56, "only {} buckets used", used.len());
        assert!(used.iter().all(|b| (0..64).contains(b)));
    }
}
