-- cc-store-mysql schema v1 (expand). Written for TiDB, tested on MariaDB:
-- * no foreign keys, triggers or stored procedures: TiDB does not enforce the first (before 8.5) nor run the others;
-- * conversation-scoped tables lead their clustered primary key with `bucket` (a hash of the conversation id,
--   0..63, computed by the application) so that new conversations, whose UUIDv7 ids are time-ordered, spread their
--   writes over 64 key ranges instead of appending to one TiKV region;
-- * tables keyed by something else get TiDB's SHARD_ROW_ID_BITS (the `/*T! ... */` comments are executed by TiDB
--   and ignored by MySQL/MariaDB);
-- * identifiers are ASCII with binary collation (byte order, case-sensitive), text is utf8mb4.
CREATE TABLE IF NOT EXISTS apps (
    id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name VARCHAR(255) NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (id) /*T![clustered_index] NONCLUSTERED */,
    KEY apps_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin /*T! SHARD_ROW_ID_BITS=4 */;

CREATE TABLE IF NOT EXISTS api_keys (
    key_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    app_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    label VARCHAR(255) NOT NULL,
    secret_hash VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT NULL,
    PRIMARY KEY (key_id) /*T![clustered_index] NONCLUSTERED */,
    KEY api_keys_app (app_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin /*T! SHARD_ROW_ID_BITS=4 */;

CREATE TABLE IF NOT EXISTS users (
    app_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name TEXT NOT NULL,
    metadata MEDIUMTEXT NOT NULL,
    active TINYINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, user_id) /*T![clustered_index] NONCLUSTERED */
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin /*T! SHARD_ROW_ID_BITS=4 */;

CREATE TABLE IF NOT EXISTS conversations (
    bucket SMALLINT NOT NULL,
    app_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    kind VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name TEXT NOT NULL,
    visibility VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    password_hash VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
    metadata MEDIUMTEXT NOT NULL,
    direct_key VARCHAR(160) CHARACTER SET ascii COLLATE ascii_bin NULL,
    last_seq BIGINT NOT NULL DEFAULT 0,
    member_count BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (bucket, app_id, id) /*T![clustered_index] CLUSTERED */,
    UNIQUE KEY conversations_direct (app_id, direct_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS members (
    bucket SMALLINT NOT NULL,
    app_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    conversation_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    role VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    joined_at_ms BIGINT NOT NULL,
    delivered_seq BIGINT NOT NULL DEFAULT 0,
    read_seq BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, app_id, conversation_id, user_id) /*T![clustered_index] CLUSTERED */,
    KEY members_by_user (app_id, user_id, conversation_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS bans (
    bucket SMALLINT NOT NULL,
    app_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    conversation_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    banned_at_ms BIGINT NOT NULL,
    PRIMARY KEY (bucket, app_id, conversation_id, user_id) /*T![clustered_index] CLUSTERED */
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS messages (
    bucket SMALLINT NOT NULL,
    app_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    conversation_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    seq BIGINT NOT NULL,
    id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    sender_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    client_msg_id VARCHAR(64) NOT NULL,
    body MEDIUMTEXT NOT NULL,
    parent_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
    reply_count BIGINT NOT NULL DEFAULT 0,
    mentions TEXT NOT NULL,
    reaction_counts TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    edited_at_ms BIGINT NULL,
    deleted TINYINT NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, app_id, conversation_id, seq) /*T![clustered_index] CLUSTERED */,
    UNIQUE KEY messages_by_id (bucket, app_id, conversation_id, id),
    UNIQUE KEY messages_idempotency (bucket, app_id, conversation_id, sender_id, client_msg_id),
    KEY messages_thread (bucket, app_id, conversation_id, parent_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS reactions (
    bucket SMALLINT NOT NULL,
    app_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    conversation_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    message_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    emoji VARCHAR(32) NOT NULL,
    user_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (bucket, app_id, conversation_id, message_id, emoji, user_id) /*T![clustered_index] CLUSTERED */
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Transactional outbox: one row per committed event that must reach the durable bus, written in the same
-- transaction as the change. Random UUIDv4 ids (no hot spot); a row is deleted once the relay has published it.
CREATE TABLE IF NOT EXISTS outbox (
    id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    conversation_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
    seq BIGINT NOT NULL DEFAULT 0,
    kind VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    envelope MEDIUMTEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (id) /*T![clustered_index] CLUSTERED */,
    KEY outbox_age (created_at_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Named leases (the outbox relay's single active owner across replicas).
CREATE TABLE IF NOT EXISTS leases (
    name VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    owner VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    until_ms BIGINT NOT NULL,
    PRIMARY KEY (name) /*T![clustered_index] CLUSTERED */
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
