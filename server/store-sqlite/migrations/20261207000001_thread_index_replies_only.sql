-- Only replies need the thread index: it was one more B-tree leaf written for every message, at
-- a place that depends on the conversation, so with many conversations active each plain message
-- cost a page (4 KiB) of WAL for it. Thread reads ask for `parent_id = ?`, which implies the
-- partial index's condition, so they still use it.
DROP INDEX messages_thread;
CREATE INDEX messages_thread ON messages (app_id, conversation_id, parent_id, seq) WHERE parent_id IS NOT NULL;
