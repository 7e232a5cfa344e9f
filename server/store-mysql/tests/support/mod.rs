//! Shared by this crate's tests: a fresh database per test on the real MariaDB of the services harness.

#![allow(dead_code)]

use cc_store_mysql::{MysqlConfig, MysqlStore};
use sqlx::mysql::MySqlPoolOptions;
use std::time::Duration;

const PORTS_ENV: &str = include_str!("../../../../scripts/services/ports.env");

/// `$CC_TEST_MYSQL_URL`, or its value in `scripts/services/ports.env`.
pub fn mysql_url() -> String {
    if let Ok(value) = std::env::var("CC_TEST_MYSQL_URL")
        && !value.is_empty()
    {
        return value;
    }
    PORTS_ENV
        .lines()
        .find_map(|line| line.strip_prefix("CC_TEST_MYSQL_URL="))
        .map(str::to_owned)
        .expect("CC_TEST_MYSQL_URL is missing from scripts/services/ports.env")
}

/// Fails the test (never skips it) with what is missing and how to start it.
pub fn unavailable(error: impl std::fmt::Display) -> ! {
    panic!(
        "MariaDB (CC_TEST_MYSQL_URL={}) is not available: {error}\n  \
         start it with `scripts/services/mariadb.sh start` (or every service: `scripts/services/all.sh start`)",
        mysql_url()
    )
}

/// A database of its own for one test; dropped by [`FreshDatabase::drop_now`].
pub struct FreshDatabase {
    pub name: String,
    pub url: String,
}

impl FreshDatabase {
    pub async fn create(prefix: &str) -> Self {
        let base = mysql_url();
        let admin = MySqlPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&base)
            .await
            .unwrap_or_else(|error| unavailable(error));
        let name = format!(
            "cc_{prefix}_{}_{:x}",
            std::process::id(),
            rand::random::<u32>()
        );
        sqlx::query(&format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        ))
        .execute(&admin)
        .await
        .unwrap_or_else(|error| unavailable(format!("CREATE DATABASE refused: {error}")));
        admin.close().await;
        let (server, _) = base
            .rsplit_once('/')
            .expect("CC_TEST_MYSQL_URL ends with /database");
        Self {
            url: format!("{server}/{name}"),
            name,
        }
    }

    pub fn config(&self) -> MysqlConfig {
        MysqlConfig::new(self.url.clone())
    }

    pub async fn open(&self) -> MysqlStore {
        MysqlStore::open(&self.config())
            .await
            .unwrap_or_else(|error| panic!("opening the store on {}: {error}", self.name))
    }

    pub async fn drop_now(self) {
        if let Ok(admin) = MySqlPoolOptions::new()
            .max_connections(1)
            .connect(&mysql_url())
            .await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS `{}`", self.name))
                .execute(&admin)
                .await;
            admin.close().await;
        }
    }
}
