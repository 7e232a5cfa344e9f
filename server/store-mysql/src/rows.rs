//! Row decoding: one function per record, the only place that knows column names and encodings.

use crate::error::{corrupt, map};
use cc_core::StoreError;
use cc_core::ids::{AppId, ConversationId, MessageId, UserId};
use cc_core::model::{
    ApiKeyRecord, App, Conversation, ConversationKind, Member, Message, Role, User,
};
use cc_protocol::rest::Visibility;
use sqlx::Row as _;
use sqlx::mysql::MySqlRow;

type Decoded<T> = Result<T, StoreError>;

/// A text column. Identifier columns use binary collations (byte order, case-sensitive), which the server reports
/// with the BINARY flag; sqlx then refuses them as `String`, so every text column is read as bytes and checked.
pub(crate) fn get_text(row: &MySqlRow, column: &str) -> Result<String, sqlx::Error> {
    utf8(row.try_get::<Vec<u8>, _>(column)?)
}

pub(crate) fn get_opt_text(row: &MySqlRow, column: &str) -> Result<Option<String>, sqlx::Error> {
    row.try_get::<Option<Vec<u8>>, _>(column)?
        .map(utf8)
        .transpose()
}

pub(crate) fn utf8(bytes: Vec<u8>) -> Result<String, sqlx::Error> {
    String::from_utf8(bytes).map_err(|error| sqlx::Error::Decode(error.into()))
}

fn text(row: &MySqlRow, column: &str) -> Decoded<String> {
    get_text(row, column).map_err(map)
}

fn opt_text(row: &MySqlRow, column: &str) -> Decoded<Option<String>> {
    get_opt_text(row, column).map_err(map)
}

fn int(row: &MySqlRow, column: &str) -> Decoded<i64> {
    row.try_get::<i64, _>(column).map_err(map)
}

fn flag(row: &MySqlRow, column: &str) -> Decoded<bool> {
    row.try_get::<i8, _>(column).map(|v| v != 0).map_err(map)
}

fn json<T: serde::de::DeserializeOwned>(row: &MySqlRow, column: &str) -> Decoded<T> {
    serde_json::from_str(&text(row, column)?).map_err(|e| corrupt(column, e))
}

pub(crate) fn visibility_text(visibility: Visibility) -> &'static str {
    match visibility {
        Visibility::Public => "public",
        Visibility::Private => "private",
        Visibility::Password => "password",
    }
}

pub(crate) fn app(row: &MySqlRow) -> Decoded<App> {
    Ok(App {
        id: AppId(text(row, "id")?),
        name: text(row, "name")?,
        created_at_ms: int(row, "created_at_ms")?,
    })
}

pub(crate) fn api_key(row: &MySqlRow) -> Decoded<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        key_id: text(row, "key_id")?,
        app_id: AppId(text(row, "app_id")?),
        label: text(row, "label")?,
        secret_hash: text(row, "secret_hash")?,
        created_at_ms: int(row, "created_at_ms")?,
        revoked_at_ms: row.try_get("revoked_at_ms").map_err(map)?,
    })
}

pub(crate) fn user(row: &MySqlRow) -> Decoded<User> {
    Ok(User {
        app_id: AppId(text(row, "app_id")?),
        id: UserId(text(row, "user_id")?),
        name: text(row, "name")?,
        metadata: json(row, "metadata")?,
        active: flag(row, "active")?,
        created_at_ms: int(row, "created_at_ms")?,
    })
}

pub(crate) fn conversation(row: &MySqlRow) -> Decoded<Conversation> {
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

pub(crate) fn member(row: &MySqlRow) -> Decoded<Member> {
    let role_text = text(row, "role")?;
    Ok(Member {
        user_id: UserId(text(row, "user_id")?),
        role: Role::parse(&role_text).ok_or_else(|| corrupt("member role", role_text))?,
        joined_at_ms: int(row, "joined_at_ms")?,
        delivered_seq: int(row, "delivered_seq")?,
        read_seq: int(row, "read_seq")?,
    })
}

pub(crate) fn message(row: &MySqlRow) -> Decoded<Message> {
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
        deleted: flag(row, "deleted")?,
    })
}

pub(crate) fn all<T>(rows: &[MySqlRow], decode: fn(&MySqlRow) -> Decoded<T>) -> Decoded<Vec<T>> {
    rows.iter().map(decode).collect()
}

pub(crate) fn to_json(value: &impl serde::Serialize) -> String {
    // Values here are plain data (strings, numbers, maps with string keys): serialization cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| String::from("null"))
}
