//! The delivery checker's bookkeeping (pure): which `seq`s were acknowledged per conversation, and what
//! each connection received per conversation — in order, duplicated, late (reordered) or missing.
//!
//! A connection joins every conversation before the first send, so it must receive every acknowledged
//! `seq` of each conversation it is a member of, in increasing order, at least once (protocol §2.4).

use std::collections::BTreeSet;

/// What one connection saw of one conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Greatest `seq` received.
    pub last_seq: i64,
    /// `seq`s skipped over and not (yet) received; filled when a late frame arrives.
    pub missing: BTreeSet<i64>,
    pub received: u64,
    pub duplicates: u64,
    /// Frames that arrived after a greater `seq` (filled a gap late).
    pub reordered: u64,
    /// Times a `seq` jumped past `last_seq + 1`.
    pub gaps: u64,
}

/// How one received `seq` related to what came before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    InOrder,
    Gap { skipped: i64 },
    Late,
    Duplicate,
}

impl Cursor {
    /// Starts after `base_seq`: what existed before the connection joined is not expected.
    pub fn starting_after(base_seq: i64) -> Self {
        Self {
            last_seq: base_seq,
            ..Self::default()
        }
    }

    pub fn observe(&mut self, seq: i64) -> Observation {
        if seq == self.last_seq + 1 {
            self.last_seq = seq;
            self.received += 1;
            Observation::InOrder
        } else if seq > self.last_seq + 1 {
            let skipped = seq - self.last_seq - 1;
            // Bounded by the run's message count; a protocol bug that skips millions shows in `gaps`.
            if skipped <= 1_000_000 {
                self.missing.extend(self.last_seq + 1..seq);
            }
            self.last_seq = seq;
            self.received += 1;
            self.gaps += 1;
            Observation::Gap { skipped }
        } else if self.missing.remove(&seq) {
            self.received += 1;
            self.reordered += 1;
            Observation::Late
        } else {
            self.duplicates += 1;
            Observation::Duplicate
        }
    }

    /// Acknowledged `seq`s (sorted) this connection never received.
    pub fn lost_of(&self, acked_sorted: &[i64]) -> u64 {
        acked_sorted
            .iter()
            .filter(|seq| **seq > self.last_seq || self.missing.contains(seq))
            .count() as u64
    }
}

/// Acknowledged sends of one conversation, and which `seq` each logical message (the run-wide number in its
/// text) was given: a number seen with two `seq`s was committed twice, so a client that deduplicates by
/// (`conversation_id`, `seq`) as the protocol says would show it twice.
#[derive(Debug, Clone, Default)]
pub struct ConversationAcks {
    /// `seq`s of first acks (`duplicate: false`).
    pub acked: Vec<i64>,
    /// `seq`s of acks answering a resend (`duplicate: true`): acknowledged all the same, so expected too.
    pub duplicate_acked: Vec<i64>,
    pub duplicate_acks: u64,
    seq_of_number: std::collections::HashMap<u64, i64>,
    shown_twice: BTreeSet<(u64, i64)>,
}

impl ConversationAcks {
    pub fn record(&mut self, seq: i64, duplicate: bool) {
        if duplicate {
            self.duplicate_acks += 1;
            self.duplicate_acked.push(seq);
        } else {
            self.acked.push(seq);
        }
    }

    /// Every acknowledged `seq`, first acks and resends alike, sorted and distinct.
    pub fn sorted(&self) -> Vec<i64> {
        let mut seqs: Vec<i64> = self
            .acked
            .iter()
            .chain(&self.duplicate_acked)
            .copied()
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        seqs
    }

    /// Notes that message `number` carries `seq` (from an ack or a delivery); false when it already carried
    /// another one.
    pub fn identify(&mut self, number: u64, seq: i64) -> bool {
        let first = *self.seq_of_number.entry(number).or_insert(seq);
        if first == seq {
            true
        } else {
            self.shown_twice.insert((number, seq));
            false
        }
    }

    /// Extra `seq`s given to an already committed message.
    pub fn duplicated_as_shown(&self) -> u64 {
        self.shown_twice.len() as u64
    }
}

/// Totals over every connection and conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryTotals {
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    /// The same `seq` received again (allowed by the protocol: clients deduplicate by `seq`).
    pub duplicates: u64,
    /// One sent message committed under two `seq`s (an idempotency failure: shown twice).
    pub duplicated_as_shown: u64,
    pub reordered: u64,
    pub gaps: u64,
}

impl DeliveryTotals {
    pub fn add(&mut self, cursor: &Cursor, acked_sorted: &[i64]) {
        self.expected += acked_sorted.len() as u64;
        self.received += cursor.received;
        self.lost += cursor.lost_of(acked_sorted);
        self.duplicates += cursor.duplicates;
        self.reordered += cursor.reordered;
        self.gaps += cursor.gaps;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_table() {
        // (sequence received, expected observations, lost against acked 1..=6)
        let cases: &[(&[i64], &[Observation], u64)] = &[
            (&[1, 2, 3, 4, 5, 6], &[Observation::InOrder; 6], 0),
            (
                &[1, 3, 2, 4, 5, 6],
                &[
                    Observation::InOrder,
                    Observation::Gap { skipped: 1 },
                    Observation::Late,
                    Observation::InOrder,
                    Observation::InOrder,
                    Observation::InOrder,
                ],
                0,
            ),
            (
                &[1, 2, 2, 5],
                &[
                    Observation::InOrder,
                    Observation::InOrder,
                    Observation::Duplicate,
                    Observation::Gap { skipped: 2 },
                ],
                3, // 3 and 4 skipped, 6 never came
            ),
        ];
        let acked: Vec<i64> = (1..=6).collect();
        for (received, expected, lost) in cases {
            let mut cursor = Cursor::starting_after(0);
            let seen: Vec<_> = received.iter().map(|seq| cursor.observe(*seq)).collect();
            assert_eq!(&seen, expected, "{received:?}");
            assert_eq!(cursor.lost_of(&acked), *lost, "{received:?}");
        }
    }

    #[test]
    fn a_base_excludes_older_messages() {
        let mut cursor = Cursor::starting_after(10);
        assert_eq!(cursor.observe(11), Observation::InOrder);
        assert_eq!(cursor.lost_of(&[11, 12]), 1);
    }

    #[test]
    fn a_message_under_two_seqs_is_shown_twice() {
        let mut acks = ConversationAcks::default();
        assert!(acks.identify(7, 3));
        assert!(
            acks.identify(7, 3),
            "the same seq again is a harmless duplicate"
        );
        assert!(!acks.identify(7, 4));
        assert!(!acks.identify(7, 4));
        assert_eq!(acks.duplicated_as_shown(), 1);
    }

    #[test]
    fn totals_add_up() {
        let mut acks = ConversationAcks::default();
        for seq in [2, 1, 3] {
            acks.record(seq, false);
        }
        acks.record(3, true);
        acks.record(4, true); // a resend's ack counts even when the first ack never arrived
        let sorted = acks.sorted();
        assert_eq!(sorted, vec![1, 2, 3, 4]);
        let mut cursor = Cursor::default();
        cursor.observe(1);
        cursor.observe(1);
        let mut totals = DeliveryTotals::default();
        totals.add(&cursor, &sorted);
        assert_eq!(
            totals,
            DeliveryTotals {
                expected: 4,
                received: 1,
                lost: 3,
                duplicates: 1,
                duplicated_as_shown: 0,
                reordered: 0,
                gaps: 0
            }
        );
    }
}
