//! Smoke tests of the real Redis servers (standalone and 3-master cluster) through the `redis` crate.

use std::collections::BTreeMap;
use std::time::Duration;

use cc_e2e::services::{REDIS, REDIS_CLUSTER, unique_name};
use redis::AsyncCommands;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn standalone_set_get_expire() {
    let url = REDIS.address();
    let client = redis::Client::open(url.as_str())
        .unwrap_or_else(|error| panic!("{}", REDIS.unavailable(error)));
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(RESPONSE_TIMEOUT);
    let mut connection = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap_or_else(|error| panic!("{}", REDIS.unavailable(error)));

    let key = unique_name("cc-smoke");
    let _: () = connection.set_ex(&key, "hello", 60).await.expect("SET EX");
    let value: String = connection.get(&key).await.expect("GET");
    assert_eq!(value, "hello");
    let ttl: i64 = connection.ttl(&key).await.expect("TTL");
    assert!((1..=60).contains(&ttl), "TTL {ttl} not in 1..=60");
    let deleted: i64 = connection.del(&key).await.expect("DEL");
    assert_eq!(deleted, 1);
}

#[tokio::test]
async fn cluster_spreads_keys_over_masters() {
    let nodes: Vec<String> = REDIS_CLUSTER
        .address()
        .split(',')
        .map(str::to_owned)
        .collect();
    let client = redis::cluster::ClusterClient::builder(nodes)
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        .retries(1)
        .build()
        .unwrap_or_else(|error| panic!("{}", REDIS_CLUSTER.unavailable(error)));
    let mut connection =
        tokio::time::timeout(Duration::from_secs(15), client.get_async_connection())
            .await
            .unwrap_or_else(|_| {
                panic!("{}", REDIS_CLUSTER.unavailable("no connection within 15 s"))
            })
            .unwrap_or_else(|error| panic!("{}", REDIS_CLUSTER.unavailable(error)));

    let info: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(&mut connection)
        .await
        .unwrap_or_else(|error| panic!("{}", REDIS_CLUSTER.unavailable(error)));
    assert!(info.contains("cluster_state:ok"), "cluster not ok:\n{info}");

    // One key per third of the slot space: with three masters each third is served by a different node, so
    // the client must route every command to the right master (or follow MOVED).
    let run = unique_name("cc-smoke");
    let mut keys_by_third: BTreeMap<u16, String> = BTreeMap::new();
    for candidate in 0..200 {
        let key = format!("{run}:{candidate}");
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .expect("CLUSTER KEYSLOT");
        keys_by_third.entry(slot / 5462).or_insert(key);
        if keys_by_third.len() == 3 {
            break;
        }
    }
    assert_eq!(
        keys_by_third.len(),
        3,
        "no keys found in all three slot ranges"
    );

    for (third, key) in &keys_by_third {
        let _: () = connection
            .set_ex(key, format!("value-{third}"), 60)
            .await
            .expect("SET EX on the cluster");
    }
    for (third, key) in &keys_by_third {
        let value: String = connection.get(key).await.expect("GET on the cluster");
        assert_eq!(value, format!("value-{third}"));
        let _: i64 = connection.del(key).await.expect("DEL on the cluster");
    }
}
