//! `ccserver migrate`: the one-shot task `ccctl deploy` runs inside the swarm (on the data network, with the
//! stack's secrets) before the app services can start. In order, each step idempotent:
//!
//! 1. the database bootstrap a fresh TiDB needs: set the root password when root still has none, create the
//!    database and the application user (its password from the app's secret file), grant it the database;
//! 2. the Kafka topics of the rendered `topics.yml` (given as JSON), created when missing, never altered;
//! 3. the schema migrations, through the store's own entry point (one instance at a time, under
//!    `GET_LOCK`), by opening the production backends exactly as a replica does;
//! 4. with `--smoke`, the fixtures of deploy's smoke test: the app `ccctl-smoke`, users `smoke-a` and `smoke-b`
//!    and their direct conversation, created when missing. Their ids (no secret) are printed as one JSON line.

use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cc_core::Principal;
use cc_core::ids::{AppId, UserId};
use cc_protocol::rest::{CreateConversation, CreateUser};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use serde::Deserialize;
use sqlx::Connection as _;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};

use crate::config::RawConfig;
use crate::server::{self, StateOptions};

/// The smoke-test app and its two users.
pub const SMOKE_APP: &str = "ccctl-smoke";
pub const SMOKE_USERS: [&str; 2] = ["smoke-a", "smoke-b"];
/// How long to wait for the database and Kafka to accept connections (they start with the stack).
const REACH_DEADLINE: Duration = Duration::from_secs(180);

/// One topic of the rendered `topics.yml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    #[serde(default)]
    pub configs: std::collections::BTreeMap<String, String>,
}

/// `ccserver migrate` arguments.
#[derive(Debug, Default)]
pub struct MigrateArgs {
    pub config: Option<PathBuf>,
    pub root_password_file: Option<PathBuf>,
    pub topics: Vec<TopicSpec>,
    pub smoke: bool,
}

impl MigrateArgs {
    /// Parses `--config F --root-password-file F --topics JSON --smoke`.
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut parsed = Self::default();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
            match arg.as_str() {
                "--config" => parsed.config = Some(PathBuf::from(value("--config")?)),
                "--root-password-file" => {
                    parsed.root_password_file = Some(PathBuf::from(value("--root-password-file")?));
                }
                "--topics" => {
                    parsed.topics = serde_json::from_str(&value("--topics")?)
                        .map_err(|error| format!("--topics: not a JSON list of topics: {error}"))?;
                }
                "--smoke" => parsed.smoke = true,
                other => return Err(format!("unknown argument {other}")),
            }
        }
        Ok(parsed)
    }
}

/// A MySQL string literal (the passwords are generated, but quote whatever they hold).
fn sql_literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// The bootstrap statements, in order, for an application user on a database.
pub fn bootstrap_statements(database: &str, user: &str, password: &str) -> Vec<String> {
    let database = format!("`{}`", database.replace('`', "``"));
    let account = format!("{}@'%'", sql_literal(user));
    vec![
        format!("CREATE DATABASE IF NOT EXISTS {database}"),
        format!(
            "CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {}",
            sql_literal(password)
        ),
        // A rotated secret: the user exists with the old password.
        format!(
            "ALTER USER {account} IDENTIFIED BY {}",
            sql_literal(password)
        ),
        format!("GRANT ALL PRIVILEGES ON {database}.* TO {account}"),
    ]
}

fn access_denied(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(database) if database.code().as_deref() == Some("28000"))
        || error.to_string().contains("Access denied")
}

/// Connects as root with its password, or with none while it has none yet (then sets it).
async fn connect_root(
    host: &str,
    port: u16,
    root_password: &str,
) -> anyhow::Result<MySqlConnection> {
    let started = Instant::now();
    let options = MySqlConnectOptions::new()
        .host(host)
        .port(port)
        .username("root");
    loop {
        match MySqlConnection::connect_with(&options.clone().password(root_password)).await {
            Ok(connection) => return Ok(connection),
            Err(error) if access_denied(&error) => {
                let mut connection = MySqlConnection::connect_with(&options)
                    .await
                    .context("the database refuses root with the root password and without one")?;
                sqlx::raw_sql(&format!(
                    "ALTER USER 'root'@'%' IDENTIFIED BY {}",
                    sql_literal(root_password)
                ))
                .execute(&mut connection)
                .await
                .context("setting the root password")?;
                eprintln!("ccserver migrate: root password set");
                return Ok(connection);
            }
            Err(error) if started.elapsed() < REACH_DEADLINE => {
                eprintln!("ccserver migrate: waiting for the database at {host}:{port}: {error}");
                // Polling a server that is still starting: no event to wait on from here.
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(error) => {
                return Err(error).with_context(|| {
                    format!(
                        "the database at {host}:{port} did not accept connections within {} s",
                        REACH_DEADLINE.as_secs()
                    )
                });
            }
        }
    }
}

async fn bootstrap_database(
    settings: &crate::backends::ProductionSettings,
    root_password: &str,
) -> anyhow::Result<()> {
    let options = MySqlConnectOptions::from_str(&settings.mysql.url)
        .context("production.mysql.url is not a MySQL URL")?;
    let database = options
        .get_database()
        .context("production.mysql.url names no database")?
        .to_owned();
    let user = options.get_username().to_owned();
    let password = settings
        .mysql
        .password
        .clone()
        .context("production.mysql.password_file is required to create the application user")?;
    let mut connection =
        connect_root(options.get_host(), options.get_port(), root_password).await?;
    for statement in bootstrap_statements(&database, &user, &password) {
        sqlx::raw_sql(&statement)
            .execute(&mut connection)
            .await
            .with_context(|| {
                format!(
                    "bootstrap of database {database} for user {user}: `{}` failed",
                    statement.split(" IDENTIFIED").next().unwrap_or(&statement)
                )
            })?;
    }
    connection.close().await.ok();
    eprintln!("ccserver migrate: database {database} and user {user} ready");
    Ok(())
}

async fn create_topics(
    config: &cc_bus_kafka::KafkaConfig,
    topics: &[TopicSpec],
) -> anyhow::Result<()> {
    if topics.is_empty() {
        return Ok(());
    }
    // The properties `cc_bus_kafka` gives its own clients (its builder is private to that crate).
    let mut client = rdkafka::ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", "ccserver-migrate")
        .set("socket.connection.setup.timeout.ms", "5000");
    if let Some((username, password)) = &config.sasl {
        client
            .set("sasl.username", username)
            .set("sasl.password", password)
            .set("sasl.mechanism", "SCRAM-SHA-512")
            .set("security.protocol", "SASL_SSL");
    }
    for (key, value) in &config.extra {
        client.set(key, value);
    }
    let admin: AdminClient<DefaultClientContext> = client
        .create()
        .with_context(|| format!("a Kafka admin client for {}", config.brokers))?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|topic| {
            topic.configs.iter().fold(
                NewTopic::new(
                    &topic.name,
                    topic.partitions,
                    TopicReplication::Fixed(topic.replication_factor),
                ),
                |new, (key, value)| new.set(key, value),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let started = Instant::now();
    let results = loop {
        match admin.create_topics(&new, &options).await {
            Ok(results) => break results,
            Err(error) if started.elapsed() < REACH_DEADLINE => {
                eprintln!(
                    "ccserver migrate: waiting for Kafka at {}: {error}",
                    config.brokers
                );
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(error) => {
                return Err(error).with_context(|| format!("Kafka at {}", config.brokers));
            }
        }
    };
    let mut created = Vec::new();
    for result in results {
        match result {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("creating topic {name} failed: {code}"),
        }
    }
    eprintln!(
        "ccserver migrate: topics: {} created, {} existed",
        created.len(),
        topics.len() - created.len()
    );
    Ok(())
}

async fn smoke_fixtures(service: &cc_core::ChatService) -> anyhow::Result<serde_json::Value> {
    let store = service.store();
    let app = match store.find_app_by_name(SMOKE_APP).await? {
        Some(app) => app,
        None => service.create_app(SMOKE_APP).await?.0,
    };
    for user in SMOKE_USERS {
        if store
            .get_user(&app.id, &UserId::from(user))
            .await?
            .is_none()
        {
            service
                .create_user(
                    &app.id,
                    CreateUser {
                        user_id: user.into(),
                        name: user.into(),
                        metadata: serde_json::json!({"ccctl": "smoke test"}),
                    },
                )
                .await?;
        }
    }
    let first = Principal {
        app_id: AppId(app.id.0.clone()),
        user_id: UserId::from(SMOKE_USERS[0]),
        token_id: String::new(),
        expires_at_ms: i64::MAX,
    };
    // A direct conversation between the same two users is one conversation: this returns it when it exists.
    let (conversation, _) = service
        .create_conversation(
            &first,
            CreateConversation::Direct {
                peer_id: SMOKE_USERS[1].into(),
            },
        )
        .await?;
    Ok(serde_json::json!({
        "smoke": {
            "app_id": app.id.0,
            "conversation_id": conversation.id.0,
            "users": SMOKE_USERS,
        }
    }))
}

/// Runs the steps; the smoke fixtures' ids go to stdout as one JSON line.
pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let raw = match &args.config {
        Some(path) => RawConfig::from_file(path)?,
        None => anyhow::bail!("ccserver migrate needs --config <file.toml>"),
    };
    let settings = raw.with_env(|name| std::env::var(name).ok()).validate()?;
    let production = settings
        .production
        .as_ref()
        .context("ccserver migrate needs backend = \"production\"")?;
    let root_password = match &args.root_password_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("--root-password-file {}", path.display()))?
            .trim()
            .to_owned(),
        None => anyhow::bail!("ccserver migrate needs --root-password-file <secret file>"),
    };
    anyhow::ensure!(!root_password.is_empty(), "--root-password-file is empty");
    bootstrap_database(production, &root_password).await?;
    create_topics(&production.kafka, &args.topics).await?;
    // Opening the backends runs the pending migrations under the store's lock, as every replica does.
    let (state, backends) =
        server::build_production_state(StateOptions::from(&settings), production).await?;
    eprintln!("ccserver migrate: schema current");
    let outcome = if args.smoke {
        smoke_fixtures(&state.service)
            .await
            .map(|fixtures| println!("{fixtures}"))
    } else {
        Ok(())
    };
    backends.shutdown().await;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        let args = MigrateArgs::parse(
            [
                "--config",
                "/c.toml",
                "--root-password-file",
                "/run/secrets/root",
                "--topics",
                r#"[{"name":"chat.messages","partitions":6,"replication_factor":1,"configs":{"retention.ms":"1"}}]"#,
                "--smoke",
            ]
            .into_iter()
            .map(String::from),
        )
        .expect("parsed");
        assert_eq!(args.topics[0].name, "chat.messages");
        assert_eq!(args.topics[0].configs["retention.ms"], "1");
        assert!(args.smoke);
        assert!(MigrateArgs::parse(["--topics".to_owned()].into_iter()).is_err());
        assert!(MigrateArgs::parse(["--bogus".to_owned()].into_iter()).is_err());
    }

    #[test]
    fn bootstrap_quotes_names_and_passwords() {
        let statements = bootstrap_statements("cc", "cc_app", "p'w\\d");
        assert_eq!(statements[0], "CREATE DATABASE IF NOT EXISTS `cc`");
        assert_eq!(
            statements[1],
            "CREATE USER IF NOT EXISTS 'cc_app'@'%' IDENTIFIED BY 'p''w\\\\d'"
        );
        assert_eq!(
            statements[3],
            "GRANT ALL PRIVILEGES ON `cc`.* TO 'cc_app'@'%'"
        );
    }
}
