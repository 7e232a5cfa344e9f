-- Initial schema of the embedded store. Written to stay close to what MySQL/TiDB accept: no foreign
-- keys relied upon, composite primary keys scoped by app, JSON kept as text.
CREATE TABLE apps (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX apps_name ON apps (name);

CREATE TABLE api_keys (
    key_id TEXT NOT NULL PRIMARY KEY,
    app_id TEXT NOT NULL,
    label TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX api_keys_app ON api_keys (app_id);

CREATE TABLE users (
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    metadata TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, user_id)
);

CREATE TABLE conversations (
    app_id TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    visibility TEXT NOT NULL,
    password_hash TEXT,
    metadata TEXT NOT NULL,
    direct_key TEXT,
    last_seq BIGINT NOT NULL DEFAULT 0,
    member_count BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, id)
);
CREATE UNIQUE INDEX conversations_direct ON conversations (app_id, direct_key);

CREATE TABLE members (
    app_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    joined_at_ms BIGINT NOT NULL,
    delivered_seq BIGINT NOT NULL DEFAULT 0,
    read_seq BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, conversation_id, user_id)
);
CREATE INDEX members_by_user ON members (app_id, user_id, conversation_id);

CREATE TABLE bans (
    app_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    banned_at_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, conversation_id, user_id)
);

CREATE TABLE messages (
    app_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    client_msg_id TEXT NOT NULL,
    body TEXT NOT NULL,
    parent_id TEXT,
    reply_count BIGINT NOT NULL DEFAULT 0,
    mentions TEXT NOT NULL,
    reaction_counts TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    edited_at_ms BIGINT,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, conversation_id, seq)
);
CREATE UNIQUE INDEX messages_by_id ON messages (app_id, conversation_id, id);
CREATE UNIQUE INDEX messages_idempotency ON messages (app_id, conversation_id, sender_id, client_msg_id);
CREATE INDEX messages_thread ON messages (app_id, conversation_id, parent_id, seq);

CREATE TABLE reactions (
    app_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    emoji TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, conversation_id, message_id, emoji, user_id)
);
