-- Expand: writers delete their own outbox rows by (conversation, seq) once they published them.
-- `CREATE INDEX IF NOT EXISTS` is accepted by TiDB and MariaDB (MySQL 8 lacks it: there, run this file by hand).
CREATE INDEX IF NOT EXISTS outbox_message ON outbox (conversation_id, seq)
