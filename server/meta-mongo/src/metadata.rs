//! The metadata collections.

use cc_core::ids::{AppId, ConversationId, UserId, now_ms};
use futures_util::TryStreamExt as _;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::{
    Acknowledgment, ClientOptions, Credential, FindOptions, ReadConcern, ReturnDocument,
    WriteConcern,
};
use mongodb::{Collection, IndexModel};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct MongoConfig {
    /// `mongodb://host:port/` (a user name may be in the URL; the password comes from [`Self::password`]).
    pub url: String,
    /// Read from a secret file by the caller; never logged.
    pub password: Option<String>,
    pub database: String,
    pub connect_timeout: Duration,
    /// How long an operation waits for a usable server before failing (the driver's default is 30 s).
    pub server_selection_timeout: Duration,
}

impl MongoConfig {
    pub fn new(url: impl Into<String>, database: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            password: None,
            database: database.into(),
            connect_timeout: Duration::from_secs(3),
            server_selection_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("metadata.mongodb.url is not a valid MongoDB URL: {0}")]
    Url(#[source] mongodb::error::Error),
    #[error("MongoDB is unavailable: {0}")]
    Unavailable(#[source] mongodb::error::Error),
    #[error(
        "metadata of {subject} was changed concurrently (expected version {expected}); read it again"
    )]
    VersionConflict { subject: String, expected: i64 },
    #[error("stored metadata of {subject} cannot be decoded: {reason}")]
    Corrupt { subject: String, reason: String },
}

/// Whose metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    User(&'a AppId, &'a UserId),
    Conversation(&'a AppId, &'a ConversationId),
}

impl Subject<'_> {
    fn id(&self) -> String {
        match self {
            Self::User(app, user) => format!("{app}/{user}"),
            Self::Conversation(app, conversation) => format!("{app}/{conversation}"),
        }
    }
}

impl std::fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User(app, user) => write!(f, "user {user} of app {app}"),
            Self::Conversation(app, c) => write!(f, "conversation {c} of app {app}"),
        }
    }
}

/// One subject's custom data.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    pub data: serde_json::Value,
    /// Starts at 1 and grows by one per write.
    pub version: i64,
    pub updated_at_ms: i64,
}

/// One audit entry (moderation actions, key changes, …).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub app_id: AppId,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: serde_json::Value,
}

#[derive(Clone)]
pub struct MongoMetadata {
    users: Collection<Document>,
    conversations: Collection<Document>,
    audit: Collection<Document>,
}

/// The exact JSON is kept as text (field names with `.` or `$` and number types survive unchanged); a BSON copy
/// under `data` makes it queryable when every field name is one MongoDB accepts.
fn encode(data: &serde_json::Value) -> (String, Bson) {
    let text = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    let queryable = if storable_keys(data) {
        mongodb::bson::to_bson(data).unwrap_or(Bson::Null)
    } else {
        Bson::Null
    };
    (text, queryable)
}

/// MongoDB (and FerretDB) refuse field names containing `.` or starting with `$`.
fn storable_keys(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => map.iter().all(|(key, inner)| {
            !key.contains('.') && !key.starts_with('$') && !key.is_empty() && storable_keys(inner)
        }),
        serde_json::Value::Array(items) => items.iter().all(storable_keys),
        _ => true,
    }
}

fn decode(subject: &Subject<'_>, document: &Document) -> Result<Metadata, MetaError> {
    let corrupt = |reason: String| MetaError::Corrupt {
        subject: subject.to_string(),
        reason,
    };
    let text = document
        .get_str("json")
        .map_err(|e| corrupt(e.to_string()))?;
    Ok(Metadata {
        data: serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?,
        version: document
            .get_i64("version")
            .map_err(|e| corrupt(e.to_string()))?,
        updated_at_ms: document.get_i64("updated_at_ms").unwrap_or(0),
    })
}

impl MongoMetadata {
    /// Connects, pings, and creates the indexes it needs.
    pub async fn connect(config: &MongoConfig) -> Result<Self, MetaError> {
        let mut options = ClientOptions::parse(&config.url)
            .await
            .map_err(MetaError::Url)?;
        options.connect_timeout = Some(config.connect_timeout);
        options.server_selection_timeout = Some(config.server_selection_timeout);
        options.app_name = Some("ccserver".into());
        if let Some(password) = &config.password {
            let mut credential = options.credential.take().unwrap_or_default();
            credential.password = Some(password.clone());
            options.credential = Some(credential);
        } else if options
            .credential
            .as_ref()
            .is_some_and(|c: &Credential| c.username.is_none())
        {
            options.credential = None;
        }
        options.write_concern = Some(
            WriteConcern::builder()
                .w(Acknowledgment::Majority)
                .journal(true)
                .w_timeout(Duration::from_secs(10))
                .build(),
        );
        options.read_concern = Some(ReadConcern::majority());
        let client = mongodb::Client::with_options(options).map_err(MetaError::Url)?;
        let database = client.database(&config.database);
        database
            .run_command(doc! { "ping": 1 })
            .await
            .map_err(MetaError::Unavailable)?;
        let audit = database.collection::<Document>("audit");
        audit
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "app_id": 1, "at_ms": 1 })
                    .build(),
            )
            .await
            .map_err(MetaError::Unavailable)?;
        Ok(Self {
            users: database.collection("user_metadata"),
            conversations: database.collection("conversation_metadata"),
            audit,
        })
    }

    fn collection(&self, subject: &Subject<'_>) -> &Collection<Document> {
        match subject {
            Subject::User(..) => &self.users,
            Subject::Conversation(..) => &self.conversations,
        }
    }

    pub async fn get(&self, subject: Subject<'_>) -> Result<Option<Metadata>, MetaError> {
        let found = self
            .collection(&subject)
            .find_one(doc! { "_id": subject.id() })
            .await
            .map_err(MetaError::Unavailable)?;
        found
            .map(|document| decode(&subject, &document))
            .transpose()
    }

    /// Replaces the data. With `expected_version`, refuses when another writer got there first.
    pub async fn put(
        &self,
        subject: Subject<'_>,
        data: &serde_json::Value,
        expected_version: Option<i64>,
    ) -> Result<Metadata, MetaError> {
        let (text, queryable) = encode(data);
        let now = now_ms();
        let (filter, upsert) = match expected_version {
            Some(version) => (
                doc! { "_id": subject.id(), "version": version },
                version == 0,
            ),
            None => (doc! { "_id": subject.id() }, true),
        };
        let update = doc! {
            "$set": { "json": text, "data": queryable, "updated_at_ms": now },
            "$inc": { "version": 1_i64 },
        };
        let written = self
            .collection(&subject)
            .find_one_and_update(filter, update)
            .upsert(upsert)
            .return_document(ReturnDocument::After)
            .await;
        match written {
            Ok(Some(document)) => decode(&subject, &document),
            // Not found with a version filter, or a duplicate _id on upsert: someone else wrote first.
            Ok(None) => Err(MetaError::VersionConflict {
                subject: subject.to_string(),
                expected: expected_version.unwrap_or(0),
            }),
            Err(error) if expected_version.is_some() && is_duplicate_key(&error) => {
                Err(MetaError::VersionConflict {
                    subject: subject.to_string(),
                    expected: expected_version.unwrap_or(0),
                })
            }
            Err(error) => Err(MetaError::Unavailable(error)),
        }
    }

    /// The data of several users at once (users without a document are absent from the map).
    pub async fn users(
        &self,
        app_id: &AppId,
        user_ids: &[UserId],
    ) -> Result<HashMap<UserId, Metadata>, MetaError> {
        if user_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<String> = user_ids
            .iter()
            .map(|user| Subject::User(app_id, user).id())
            .collect();
        let documents: Vec<Document> = self
            .users
            .find(doc! { "_id": { "$in": ids } })
            .await
            .map_err(MetaError::Unavailable)?
            .try_collect()
            .await
            .map_err(MetaError::Unavailable)?;
        let mut found = HashMap::new();
        for document in documents {
            let Ok(id) = document.get_str("_id") else {
                continue;
            };
            let Some((_, user)) = id.split_once('/') else {
                continue;
            };
            let user = UserId(user.to_owned());
            let metadata = decode(&Subject::User(app_id, &user), &document)?;
            found.insert(user, metadata);
        }
        Ok(found)
    }

    pub async fn append_audit(&self, record: &AuditRecord) -> Result<(), MetaError> {
        let (details, _) = encode(&record.details);
        self.audit
            .insert_one(doc! {
                "app_id": record.app_id.as_str(),
                "at_ms": record.at_ms,
                "actor": &record.actor,
                "action": &record.action,
                "target": &record.target,
                "details": details,
            })
            .await
            .map_err(MetaError::Unavailable)?;
        Ok(())
    }

    /// An app's audit entries with `at_ms > after_ms`, oldest first.
    pub async fn audit_after(
        &self,
        app_id: &AppId,
        after_ms: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, MetaError> {
        let options = FindOptions::builder()
            .sort(doc! { "at_ms": 1 })
            .limit(i64::from(limit))
            .build();
        let documents: Vec<Document> = self
            .audit
            .find(doc! { "app_id": app_id.as_str(), "at_ms": { "$gt": after_ms } })
            .with_options(options)
            .await
            .map_err(MetaError::Unavailable)?
            .try_collect()
            .await
            .map_err(MetaError::Unavailable)?;
        documents
            .iter()
            .map(|d| {
                let text = |field: &str| d.get_str(field).unwrap_or_default().to_owned();
                Ok(AuditRecord {
                    app_id: app_id.clone(),
                    at_ms: d.get_i64("at_ms").unwrap_or(0),
                    actor: text("actor"),
                    action: text("action"),
                    target: text("target"),
                    details: serde_json::from_str(d.get_str("details").unwrap_or("null"))
                        .unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }
}

fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    error.to_string().contains("E11000") || error.to_string().contains("duplicate key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_mongodb_refuses_keep_only_the_text_copy() {
        let (text, queryable) = encode(&serde_json::json!({"a": {"b.c": 1}}));
        assert_eq!(text, r#"{"a":{"b.c":1}}"#);
        assert_eq!(queryable, Bson::Null);
        let (_, queryable) = encode(&serde_json::json!({"a": [{"b": 1}]}));
        assert!(matches!(queryable, Bson::Document(_)));
    }
}
