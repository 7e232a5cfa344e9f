//! The checked-in OpenAPI document lists exactly the routes the router serves, and is served.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns; a failed unwrap is a failed test.

mod common;

use std::collections::BTreeSet;

#[test]
fn every_route_is_documented_and_nothing_else() {
    let doc: serde_json::Value =
        serde_json::from_str(ccserver::api::OPENAPI).expect("docs/openapi.json is JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut served = BTreeSet::new();
    for route in ccserver::api::api_routes()
        .into_iter()
        .chain(ccserver::api::common_routes())
    {
        for method in route.methods {
            served.insert((route.path.to_owned(), (*method).to_owned()));
        }
    }
    served.insert(("/v1/ws".to_owned(), "get".to_owned()));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((path.clone(), method.clone()));
        }
    }
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "routes missing from docs/openapi.json (run server/ccserver/tools/openapi.py): {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "documented routes the router does not serve: {extra:?}"
    );
}

#[tokio::test]
async fn the_document_is_served_and_unknown_routes_get_the_error_body() {
    let server = common::TestServer::start().await;
    let (status, doc) = server.rest("GET", "/v1/openapi.json", None, None).await;
    assert_eq!((status, doc["openapi"].as_str()), (200, Some("3.1.0")));
    let (status, body) = server.rest("GET", "/v1/nothing-here", None, None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let response = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        response.contains("cc_http_request_duration_seconds_bucket{route=\"/v1/openapi.json\""),
        "{response}"
    );
    assert!(response.contains("cc_ws_connections 0"));
}
