//! The shape of a run (pure): which users share which conversations, and who sends the k-th message where.

/// One conversation to create: its members as user indices (the first one creates it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationPlan {
    pub kind: ConversationKind,
    pub members: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationKind {
    Direct,
    Group,
}

/// Conversations for `users` users: pairs (0,1), (2,3), … as direct chats when `direct` is set, then
/// `groups` groups of `group_size` consecutive users (wrapping), so every user is in about the same number.
pub fn plan_conversations(
    users: u32,
    direct: bool,
    groups: u32,
    group_size: u32,
) -> Vec<ConversationPlan> {
    let mut plans = Vec::new();
    if direct {
        for first in (0..users.saturating_sub(1)).step_by(2) {
            plans.push(ConversationPlan {
                kind: ConversationKind::Direct,
                members: vec![first, first + 1],
            });
        }
    }
    let size = group_size.min(users);
    for group in 0..groups {
        if size == 0 {
            break;
        }
        let start = (u64::from(group) * u64::from(size) % u64::from(users)) as u32;
        plans.push(ConversationPlan {
            kind: ConversationKind::Group,
            members: (0..size).map(|offset| (start + offset) % users).collect(),
        });
    }
    plans
}

/// Chooses the conversation and sender of each message: a `group_share` fraction of messages goes to
/// groups, conversations of each kind in turn, senders in turn within a conversation. Deterministic, so
/// two runs with the same flags send the same pattern.
#[derive(Debug, Clone)]
pub struct Scheduler {
    direct: Vec<u32>,
    groups: Vec<u32>,
    group_share: f64,
    sent: u64,
    next_direct: usize,
    next_group: usize,
    sends_per_conversation: Vec<u32>,
}

impl Scheduler {
    pub fn new(plans: &[ConversationPlan], group_share: f64) -> Self {
        let (mut direct, mut groups) = (Vec::new(), Vec::new());
        for (index, plan) in plans.iter().enumerate() {
            match plan.kind {
                ConversationKind::Direct => direct.push(index as u32),
                ConversationKind::Group => groups.push(index as u32),
            }
        }
        let group_share = if groups.is_empty() {
            0.0
        } else if direct.is_empty() {
            1.0
        } else {
            group_share.clamp(0.0, 1.0)
        };
        Self {
            direct,
            groups,
            group_share,
            sent: 0,
            next_direct: 0,
            next_group: 0,
            sends_per_conversation: vec![0; plans.len()],
        }
    }

    /// `(conversation index, sender user index)` of the next message; `None` when there is no conversation.
    pub fn next(&mut self, plans: &[ConversationPlan]) -> Option<(u32, u32)> {
        // Message k goes to a group when floor((k+1)·share) > floor(k·share): an exact share, no randomness.
        let k = self.sent as f64;
        let to_group = ((k + 1.0) * self.group_share).floor() > (k * self.group_share).floor();
        self.sent += 1;
        let conversation = if to_group {
            let conversation = *self
                .groups
                .get(self.next_group % self.groups.len().max(1))?;
            self.next_group += 1;
            conversation
        } else {
            let conversation = *self
                .direct
                .get(self.next_direct % self.direct.len().max(1))?;
            self.next_direct += 1;
            conversation
        };
        let members = &plans[conversation as usize].members;
        let turn = &mut self.sends_per_conversation[conversation as usize];
        let sender = members[*turn as usize % members.len()];
        *turn = turn.wrapping_add(1);
        Some((conversation, sender))
    }
}

/// The first loopback source address of a connection: 127.0.0.2 …, spread over `address_count` addresses
/// so no single address runs out of ephemeral ports (≈28k each with Linux defaults).
pub fn source_address(connection: u32, address_count: u32) -> std::net::Ipv4Addr {
    let offset = connection % address_count.clamp(1, 253);
    std::net::Ipv4Addr::new(127, 0, 0, 2 + offset as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_groups() {
        let plans = plan_conversations(5, true, 2, 3);
        let members: Vec<_> = plans.iter().map(|p| (p.kind, p.members.clone())).collect();
        assert_eq!(
            members,
            vec![
                (ConversationKind::Direct, vec![0, 1]),
                (ConversationKind::Direct, vec![2, 3]),
                (ConversationKind::Group, vec![0, 1, 2]),
                (ConversationKind::Group, vec![3, 4, 0]),
            ]
        );
        assert!(plan_conversations(0, true, 1, 3).is_empty());
    }

    #[test]
    fn scheduler_respects_the_share_and_rotates_senders() {
        let plans = plan_conversations(4, true, 1, 4);
        let mut scheduler = Scheduler::new(&plans, 0.5);
        let picks: Vec<_> = (0..6).map(|_| scheduler.next(&plans).unwrap()).collect();
        assert_eq!(picks, vec![(0, 0), (2, 0), (1, 2), (2, 1), (0, 1), (2, 2)]);
        let direct_plans = plan_conversations(4, true, 0, 0);
        let mut only_direct = Scheduler::new(&direct_plans, 0.9);
        assert!(only_direct.next(&direct_plans).is_some_and(|(c, _)| c < 2));
    }

    #[test]
    fn source_addresses_spread() {
        assert_eq!(source_address(0, 249).to_string(), "127.0.0.2");
        assert_eq!(source_address(248, 249).to_string(), "127.0.0.250");
        assert_eq!(source_address(249, 249).to_string(), "127.0.0.2");
    }
}
