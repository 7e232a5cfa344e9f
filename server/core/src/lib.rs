//! Chat domain core: apps, users, conversations, messages, receipts; storage, bus and presence traits.
