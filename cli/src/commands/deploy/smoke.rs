//! The smoke test: two users of the smoke-test app chat through NGINX, as any client would — TLS to the
//! NGINX host (the certificate must be exactly the one the render wrote), the WebSocket upgrade to the
//! gateway, a message sent by one and received by the other. Tokens are minted here with the signing key
//! the render generated (valid five minutes); the app, users and conversation come from the migrate task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine as _;
use cc_core::auth::key_ring::KeyRing;
use cc_protocol::{ClientFrame, MessageBody, ResumeFrame, SendFrame, ServerFrame};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::deploy::job::SmokeFixtures;
use crate::deploy::smoke::{self, Target};

/// How long each phase (connect, hello, delivery) may take.
const PHASE_TIMEOUT: Duration = Duration::from_secs(15);

/// Accepts exactly one certificate: the one the render wrote for NGINX.
#[derive(Debug)]
struct Pinned {
    certificate: Vec<u8>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.certificate.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "NGINX presents another certificate than the rendered tls_certificate".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

async fn connect(
    address: &str,
    target: &Target,
    tls: &tokio_rustls::TlsConnector,
    token: &str,
) -> anyhow::Result<Socket> {
    let tcp = tokio::net::TcpStream::connect((address, target.port))
        .await
        .with_context(|| format!("connecting to NGINX at {address}:{}", target.port))?;
    let server_name = ServerName::try_from(target.server_name.clone())
        .with_context(|| format!("{} is not a TLS server name", target.server_name))?;
    let stream = tls
        .connect(server_name, tcp)
        .await
        .with_context(|| format!("TLS with NGINX at {address}:{}", target.port))?;
    let request = format!(
        "wss://{}/v1/ws?token={token}&device=ccctl-smoke",
        target.server_name
    )
    .into_client_request()
    .context("the WebSocket request")?;
    let (socket, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .with_context(|| format!("WebSocket upgrade through NGINX ({})", target.server_name))?;
    Ok(socket)
}

/// The next server frame matching `wanted`, within the phase timeout.
async fn next_frame(
    socket: &mut Socket,
    what: &str,
    wanted: impl Fn(&ServerFrame) -> bool,
) -> anyhow::Result<ServerFrame> {
    let deadline = Instant::now() + PHASE_TIMEOUT;
    // The other frames seen meanwhile, for the error: an `error` frame says why.
    let mut seen: Vec<String> = Vec::new();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(remaining, socket.next())
            .await
            .with_context(|| {
                format!(
                    "no {what} within {} s (received meanwhile: {})",
                    PHASE_TIMEOUT.as_secs(),
                    if seen.is_empty() {
                        "nothing".to_owned()
                    } else {
                        seen.join("; ")
                    }
                )
            })?
            .with_context(|| format!("the connection closed before {what}"))?
            .with_context(|| format!("reading {what}"))?;
        if let Message::Text(text) = message {
            match serde_json::from_str::<ServerFrame>(&text) {
                Ok(frame) if wanted(&frame) => return Ok(frame),
                _ => {
                    if seen.len() < 5 {
                        seen.push(text.chars().take(300).collect());
                    }
                }
            }
        }
    }
}

/// Runs the smoke test; returns what it proved, for the step's audit line.
pub(super) async fn chat(
    target: &Target,
    address: &str,
    fixtures: &SmokeFixtures,
) -> anyhow::Result<String> {
    let [sender, receiver] = [0, 1].map(|index| fixtures.users.get(index).cloned());
    let (Some(sender), Some(receiver)) = (sender, receiver) else {
        anyhow::bail!("the smoke fixtures name fewer than two users");
    };
    let pem = std::fs::read_to_string(&target.certificate)
        .with_context(|| format!("reading {}", target.certificate.display()))?;
    let certificate = smoke::first_certificate_der(&pem)
        .with_context(|| format!("{} holds no PEM certificate", target.certificate.display()))?;
    let seed_text = std::fs::read_to_string(&target.signing_key)
        .with_context(|| format!("reading {}", target.signing_key.display()))?;
    let seed: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(seed_text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .with_context(|| {
            format!(
                "{} is not a base64 32-byte signing key",
                target.signing_key.display()
            )
        })?;
    let keys = KeyRing::from_seeds(&[(target.key_id.as_str(), seed, true)]);
    let now_secs = super::now_ms() / 1000;
    let token = |user: &str| {
        keys.sign(&smoke::claims(
            &fixtures.app_id,
            user,
            now_secs,
            &format!("ccctl-smoke-{}", rand::random::<u64>()),
        ))
        .map(|(token, _)| token)
        .context("signing a smoke-test token")
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned {
            certificate,
            provider,
        }))
        .with_no_client_auth();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config));

    let mut listening = connect(address, target, &tls, &token(&receiver)?).await?;
    next_frame(&mut listening, "the receiver's hello", |frame| {
        matches!(frame, ServerFrame::Hello(_))
    })
    .await?;
    // A connection receives live events once it resumed (here: from now on, nothing to replay).
    listening
        .send(Message::text(
            serde_json::to_string(&ClientFrame::Resume(ResumeFrame {
                id: Some("live".into()),
                conversations: std::collections::BTreeMap::new(),
            }))
            .context("the resume frame")?,
        ))
        .await
        .context("sending the receiver's resume")?;
    next_frame(
        &mut listening,
        "the answer to the receiver's resume",
        |frame| matches!(frame, ServerFrame::Ack(ack) if ack.id.as_deref() == Some("live")),
    )
    .await?;
    let mut sending = connect(address, target, &tls, &token(&sender)?).await?;
    next_frame(&mut sending, "the sender's hello", |frame| {
        matches!(frame, ServerFrame::Hello(_))
    })
    .await?;
    let client_msg_id = format!("ccctl-smoke-{}", rand::random::<u64>());
    let frame = ClientFrame::Send(SendFrame {
        id: Some("smoke".into()),
        conversation_id: fixtures.conversation_id.clone(),
        client_msg_id: client_msg_id.clone(),
        body: MessageBody::Text {
            text: "ccctl deploy smoke test".into(),
        },
        parent_id: None,
        mentions: Vec::new(),
    });
    let started = Instant::now();
    sending
        .send(Message::text(
            serde_json::to_string(&frame).context("the send frame")?,
        ))
        .await
        .context("sending the smoke message")?;
    let delivered = next_frame(&mut listening, "the smoke message at the receiver", |frame| {
        matches!(frame, ServerFrame::Message { message } if message.client_msg_id == client_msg_id)
    })
    .await;
    if let Err(error) = delivered {
        // What the sender was told (an `error` frame, or the ack) explains a missing delivery.
        let answer = next_frame(&mut sending, "the server's answer to the send", |frame| {
            matches!(frame, ServerFrame::Ack(_) | ServerFrame::Error { .. })
        })
        .await
        .map_or_else(|error| format!("{error:#}"), |frame| format!("{frame:?}"));
        return Err(error.context(format!("the sender got: {answer}")));
    }
    let elapsed = started.elapsed();
    let _ = sending.close(None).await;
    let _ = listening.close(None).await;
    Ok(format!(
        "{sender} → {receiver} through NGINX at {address}:{} ({}) in {} ms",
        target.port,
        target.server_name,
        elapsed.as_millis()
    ))
}
