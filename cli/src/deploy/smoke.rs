//! The smoke test's inputs, pure: where NGINX listens (a host the plan places it on, the port it publishes
//! for 443), the WebSocket host name it routes to the gateway, the files of the TLS certificate and the
//! JWT signing key the render wrote, the key's id, and the claims of a short-lived token for a smoke user.

use std::path::{Path, PathBuf};

use cc_core::auth::jwt::{Claims, ISSUER};

use crate::deploy::planner::DesiredHost;

/// Lifetime of the smoke test's tokens.
pub const TOKEN_TTL_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmokeError {
    #[error("stack.yml: {0}")]
    Stack(String),
    #[error("nginx/nginx.conf: no `server_name ws.…` server block (the gateway's public name)")]
    NoWebSocketHost,
    #[error("no plan host carries the label cc.nginx=true")]
    NoNginxHost,
}

/// What the smoke test connects to and signs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The plan host NGINX runs on.
    pub host: String,
    /// The port NGINX publishes for HTTPS.
    pub port: u16,
    /// `ws.<domain>`: the TLS server name and `Host` of the WebSocket URL.
    pub server_name: String,
    /// The PEM certificate NGINX serves (pinned: the connection must present exactly it).
    pub certificate: PathBuf,
    /// The JWT signing key file (base64 seed) and its key id.
    pub signing_key: PathBuf,
    pub key_id: String,
}

fn document(stack_yaml: &str) -> Result<serde_yaml_ng::Value, SmokeError> {
    serde_yaml_ng::from_str(stack_yaml).map_err(|error| SmokeError::Stack(error.to_string()))
}

fn secret_file(
    stack: &serde_yaml_ng::Value,
    rendered: &Path,
    key: &str,
) -> Result<PathBuf, SmokeError> {
    stack["secrets"][key]["file"]
        .as_str()
        .map(|file| rendered.join(file))
        .ok_or_else(|| SmokeError::Stack(format!("secrets.{key}.file: missing")))
}

/// The `ws.…` name of the server block that proxies to the gateway.
pub fn websocket_server_name(nginx_conf: &str) -> Option<String> {
    nginx_conf.lines().find_map(|line| {
        let name = line
            .trim()
            .strip_prefix("server_name ")?
            .trim_end_matches(';')
            .trim();
        name.starts_with("ws.").then(|| name.to_owned())
    })
}

/// Reads the smoke test's target from the stack (as deployed) and the render output.
pub fn target(
    stack_yaml: &str,
    nginx_conf: &str,
    rendered: &Path,
    hosts: &[DesiredHost],
) -> Result<Target, SmokeError> {
    let stack = document(stack_yaml)?;
    let host = hosts
        .iter()
        .find(|host| host.labels.get("cc.nginx").map(String::as_str) == Some("true"))
        .ok_or(SmokeError::NoNginxHost)?
        .name
        .clone();
    let port = stack["services"]["nginx"]["ports"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|port| port["target"].as_u64() == Some(443))
        .and_then(|port| port["published"].as_u64())
        .and_then(|port| u16::try_from(port).ok())
        .ok_or_else(|| {
            SmokeError::Stack("services.nginx.ports: nothing published for 443".into())
        })?;
    let key_id = stack["services"]["gateway"]["secrets"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter(|secret| secret["source"].as_str() == Some("jwt_signing_key"))
        .find_map(|secret| {
            secret["target"]
                .as_str()?
                .rsplit('/')
                .next()?
                .strip_suffix(".key")
                .map(str::to_owned)
        })
        .ok_or_else(|| {
            SmokeError::Stack(
                "services.gateway.secrets: no jwt_signing_key mounted as jwt-keys/<kid>.key".into(),
            )
        })?;
    Ok(Target {
        host,
        port,
        server_name: websocket_server_name(nginx_conf).ok_or(SmokeError::NoWebSocketHost)?,
        certificate: secret_file(&stack, rendered, "tls_certificate")?,
        signing_key: secret_file(&stack, rendered, "jwt_signing_key")?,
        key_id,
    })
}

/// The claims of a smoke user's token, as the API would mint them.
pub fn claims(app_id: &str, user_id: &str, now_secs: i64, token_id: &str) -> Claims {
    Claims {
        iss: ISSUER.into(),
        sub: user_id.to_owned(),
        aud: Claims::audience_for(app_id),
        app: app_id.to_owned(),
        iat: now_secs,
        exp: now_secs + TOKEN_TTL_SECS,
        jti: token_id.to_owned(),
    }
}

/// The DER of the first certificate of a PEM file.
pub fn first_certificate_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .skip_while(|line| !line.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|line| !line.starts_with("-----END CERTIFICATE-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .ok()
        .filter(|der| !der.is_empty())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const STACK: &str = r#"
services:
  nginx:
    image: nginx
    ports:
      - target: 80
        published: 80
      - target: 443
        published: 18443
  gateway:
    image: ccserver
    secrets:
      - source: jwt_signing_key
        target: jwt-keys/k091e040fd6b8.key
secrets:
  jwt_signing_key:
    name: cc_jwt_1
    file: "../secrets/jwt_signing_key"
  tls_certificate:
    name: cc_tls_1
    file: "../secrets/tls_certificate.pem"
"#;

    fn hosts() -> Vec<DesiredHost> {
        vec![DesiredHost {
            name: "cc-1".into(),
            manager: true,
            labels: BTreeMap::from([("cc.nginx".into(), "true".into())]),
        }]
    }

    #[test]
    fn the_target_comes_from_the_stack_and_nginx_conf() {
        let conf = "    server {\n        server_name _;\n    }\n    server {\n        listen 443 ssl http2;\n        server_name ws.chat.example.com;\n";
        let target = target(STACK, conf, Path::new("/r/out"), &hosts()).expect("target");
        assert_eq!(
            target,
            Target {
                host: "cc-1".into(),
                port: 18443,
                server_name: "ws.chat.example.com".into(),
                certificate: PathBuf::from("/r/out/../secrets/tls_certificate.pem"),
                signing_key: PathBuf::from("/r/out/../secrets/jwt_signing_key"),
                key_id: "k091e040fd6b8".into(),
            }
        );
        assert_eq!(
            super::target(STACK, "server_name _;", Path::new("/r"), &hosts()),
            Err(SmokeError::NoWebSocketHost)
        );
        assert_eq!(
            super::target(STACK, conf, Path::new("/r"), &[]),
            Err(SmokeError::NoNginxHost)
        );
    }

    #[test]
    fn claims_and_certificates() {
        let claims = claims("app1", "smoke-a", 1000, "t1");
        assert_eq!(claims.aud, Claims::audience_for("app1"));
        assert_eq!(claims.exp, 1000 + TOKEN_TTL_SECS);
        assert_eq!(
            first_certificate_der(
                "x\n-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n"
            ),
            Some(vec![1, 2, 3])
        );
        assert_eq!(first_certificate_der("nothing"), None);
    }
}
