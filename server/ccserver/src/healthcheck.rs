//! `ccserver healthcheck <url>`: the container HEALTHCHECK of the stack. Images carry no shell or curl,
//! so the binary probes its own readiness endpoint and maps the answer to an exit code.

use std::time::Duration;

/// How long one probe may take; Swarm's own `timeout` is longer, so a hung server fails here first.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Exit code of a probe: 0 when the URL answered 2xx, 1 otherwise (with the reason on stderr).
pub async fn probe(url: &str) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("GET {url}: {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::probe;

    #[tokio::test]
    async fn a_closed_port_fails_with_the_url_named() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let url = format!("http://{address}/readyz");
        let error = probe(&url).await.expect_err("nothing listens there");
        assert!(error.contains(&url), "{error}");
    }

    #[tokio::test]
    async fn a_ready_server_passes_and_a_draining_one_fails() {
        use axum::{Router, http::StatusCode, routing::get};
        let app = Router::new()
            .route("/readyz", get(|| async { StatusCode::OK }))
            .route(
                "/draining",
                get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        probe(&format!("http://{address}/readyz"))
            .await
            .expect("200 passes");
        let error = probe(&format!("http://{address}/draining"))
            .await
            .expect_err("503 fails");
        assert!(error.contains("503"), "{error}");
    }
}
