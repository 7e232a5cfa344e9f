//! Row decoding: one function per record, the only place that knows column names and encodings.

use crate::error::{corrupt, map};
use cc_core::StoreError;
use cc_core::ids::{AppId, ConversationId, MessageId, UserId};
use cc_core::model::{
    ApiKeyRecord, App, Conversation, ConversationKind, Member, Message, Role, User,
};
use cc_protocol::rest::Visibility;
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;

type Decoded<T> = Result<T, StoreError>;

fn text(row: &SqliteRow, column: &str) -> Decoded<String> {
    row.try_get::<String, _>(column).map_err(map)
}

fn opt_text(row: &SqliteRow, column: &str) -> Decoded<Option<String>> {
    row.try_get::<Option<String>, _>(column).map_err(map)
}

fn int(row: &SqliteRow, column: &str) -> Decoded<i64> {
    row.try_get::<i64, _>(column).map_err(map)
}

fn json<T: serde::de::DeserializeOwned>(row: &SqliteRow, column: &str) -> Decoded<T> {
    serde_json::from_str(&text(row, column)?).map_err(|e| corrupt(column, e))
}

pub(crate) fn visibility_text(visibility: Visibility) -> &'static str {
    match visibility {
        Visibility::Public => "public",
        Visibility::Private => "private",
        Visibility::Password => "password",
    }
}

pub(crate) fn app(row: &SqliteRow) -> Decoded<App> {
    Ok(App {
        id: AppId(text(row, "id")?),
        name: text(row, "name")?,
        created_at_ms: int(row, "created_at_ms")?,
    })
}

pub(crate) fn api_key(row: &SqliteRow) -> Decoded<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        key_id: text(row, "key_id")?,
        app_id: AppId(text(row, "app_id")?),
        label: text(row, "label")?,
        secret_hash: text(row, "secret_hash")?,
        created_at_ms: int(row, "created_at_ms")?,
        revoked_at_ms: row.try_get("revoked_at_ms").map_err(map)?,
    })
}

pub(crate) fn user(row: &SqliteRow) -> Decoded<User> {
    Ok(User {
        app_id: AppId(text(row, "app_id")?),
        id: UserId(text(row, "user_id")?),
        name: text(row, "name")?,
        metadata: json(row, "metadata")?,
        active: int(row, "active")? != 0,
        created_at_ms: int(row, "created_at_ms")?,
    })
}

pub(crate) fn conversation(row: &SqliteRow) -> Decoded<Conversation> {
    let kind = match text(row, "kind")?.as_str() {
        "direct" => ConversationKind::Direct,
        "group" => ConversationKind::Group,
        other => return Err(corrupt("conversation kind", other)),
    };
    let visibility = match text(row, "visibility")?.as_str() {
        "public" => Visibility::Public,
        "private" => Visibility::Private,
        "password" => Visibility::Password,
        other => return Err(corrupt("conversation visibility", other)),
    };
    Ok(Conversation {
        app_id: AppId(text(row, "app_id")?),
        id: ConversationId(text(row, "id")?),
        kind,
        name: text(row, "name")?,
        visibility,
        password_hash: opt_text(row, "password_hash")?,
        metadata: json(row, "metadata")?,
        direct_key: opt_text(row, "direct_key")?,
        last_seq: int(row, "last_seq")?,
        member_count: int(row, "member_count")?,
        created_at_ms: int(row, "created_at_ms")?,
    })
}

pub(crate) fn role(row: &SqliteRow) -> Decoded<Role> {
    let role_text = text(row, "role")?;
    Role::parse(&role_text).ok_or_else(|| corrupt("member role", role_text))
}

pub(crate) fn member(row: &SqliteRow) -> Decoded<Member> {
    Ok(Member {
        user_id: UserId(text(row, "user_id")?),
        role: role(row)?,
        joined_at_ms: int(row, "joined_at_ms")?,
        delivered_seq: int(row, "delivered_seq")?,
        read_seq: int(row, "read_seq")?,
    })
}

pub(crate) fn message(row: &SqliteRow) -> Decoded<Message> {
    let mentions: Vec<String> = json(row, "mentions")?;
    Ok(Message {
        app_id: AppId(text(row, "app_id")?),
        conversation_id: ConversationId(text(row, "conversation_id")?),
        id: MessageId(text(row, "id")?),
        seq: int(row, "seq")?,
        sender_id: UserId(text(row, "sender_id")?),
        client_msg_id: text(row, "client_msg_id")?,
        body: json(row, "body")?,
        parent_id: opt_text(row, "parent_id")?.map(MessageId),
        reply_count: int(row, "reply_count")?,
        mentions: mentions.into_iter().map(UserId).collect(),
        reactions: json(row, "reaction_counts")?,
        created_at_ms: int(row, "created_at_ms")?,
        edited_at_ms: row.try_get("edited_at_ms").map_err(map)?,
        deleted: int(row, "deleted")? != 0,
    })
}

pub(crate) fn all<T>(rows: &[SqliteRow], decode: fn(&SqliteRow) -> Decoded<T>) -> Decoded<Vec<T>> {
    rows.iter().map(decode).collect()
}

pub(crate) fn to_json(value: &impl serde::Serialize) -> String {
    // Values here are plain data (strings, numbers, maps with string keys): serialization cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| String::from("null"))
}
