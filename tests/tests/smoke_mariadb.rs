//! Smoke test of the real MariaDB (the MySQL-protocol stand-in for TiDB) through `sqlx`.

use std::time::Duration;

use cc_e2e::services::{MARIADB, unique_name};
use sqlx::Row;
use sqlx::mysql::MySqlPoolOptions;

#[tokio::test]
async fn query_write_read_and_create_a_database() {
    let pool = MySqlPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&MARIADB.address())
        .await
        .unwrap_or_else(|error| panic!("{}", MARIADB.unavailable(error)));

    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&pool)
        .await
        .expect("SELECT VERSION()");
    assert!(
        version.contains("MariaDB"),
        "unexpected server version {version}"
    );

    // A table in the test database: write, then read back with bound parameters.
    let table = unique_name("smoke").replace('-', "_");
    sqlx::query(&format!(
        "CREATE TABLE `{table}` (id BIGINT PRIMARY KEY, body VARCHAR(200) NOT NULL) ENGINE=InnoDB"
    ))
    .execute(&pool)
    .await
    .expect("CREATE TABLE");
    for (id, body) in [(1_i64, "first"), (2, "second ✓")] {
        sqlx::query(&format!("INSERT INTO `{table}` (id, body) VALUES (?, ?)"))
            .bind(id)
            .bind(body)
            .execute(&pool)
            .await
            .expect("INSERT");
    }
    let rows = sqlx::query(&format!("SELECT id, body FROM `{table}` ORDER BY id"))
        .fetch_all(&pool)
        .await
        .expect("SELECT");
    let read: Vec<(i64, String)> = rows
        .iter()
        .map(|row| (row.get("id"), row.get("body")))
        .collect();
    assert_eq!(
        read,
        vec![(1, "first".to_owned()), (2, "second ✓".to_owned())]
    );
    sqlx::query(&format!("DROP TABLE `{table}`"))
        .execute(&pool)
        .await
        .expect("DROP TABLE");

    // Tests may make a database of their own: the test user must be allowed to.
    let database = unique_name("cc_smoke").replace('-', "_");
    sqlx::query(&format!("CREATE DATABASE `{database}`"))
        .execute(&pool)
        .await
        .expect("the test user cannot CREATE DATABASE: rerun scripts/services/mariadb.sh start");
    sqlx::query(&format!("DROP DATABASE `{database}`"))
        .execute(&pool)
        .await
        .expect("DROP DATABASE");
    pool.close().await;
}
