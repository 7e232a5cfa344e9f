//! Smoke test of the real FerretDB (MongoDB wire protocol, SQLite backend) through the `mongodb` crate.

use std::time::Duration;

use cc_e2e::services::{FERRETDB, unique_name};
use mongodb::bson::{Document, doc};
use mongodb::options::ClientOptions;

#[tokio::test]
async fn insert_and_find() {
    let mut options = ClientOptions::parse(FERRETDB.address())
        .await
        .unwrap_or_else(|error| panic!("{}", FERRETDB.unavailable(error)));
    // The driver's defaults wait 30 s for a server: an absent one must fail in seconds.
    options.server_selection_timeout = Some(Duration::from_secs(5));
    options.connect_timeout = Some(Duration::from_secs(3));
    options.app_name = Some("cc-e2e-smoke".to_owned());
    let client = mongodb::Client::with_options(options)
        .unwrap_or_else(|error| panic!("{}", FERRETDB.unavailable(error)));

    let database = client.database("cc_smoke");
    database
        .run_command(doc! { "ping": 1 })
        .await
        .unwrap_or_else(|error| panic!("{}", FERRETDB.unavailable(error)));

    let collection = database.collection::<Document>(&unique_name("smoke").replace('-', "_"));
    collection
        .insert_one(doc! { "_id": "m1", "conversation": "c1", "seq": 1_i64, "body": "hello" })
        .await
        .expect("insert_one");
    collection
        .insert_one(doc! { "_id": "m2", "conversation": "c1", "seq": 2_i64, "body": "world" })
        .await
        .expect("insert_one");

    let found = collection
        .find_one(doc! { "conversation": "c1", "seq": 2_i64 })
        .await
        .expect("find_one")
        .expect("the inserted document is found");
    assert_eq!(found.get_str("_id").expect("_id"), "m2");
    assert_eq!(found.get_str("body").expect("body"), "world");
    assert_eq!(
        collection
            .count_documents(doc! {})
            .await
            .expect("count_documents"),
        2
    );

    collection.drop().await.expect("drop the collection");
}
