//! Provisioning through the documented REST API: users, their tokens, and the planned conversations.

use std::time::Duration;

use anyhow::Context as _;
use cc_protocol::rest::{
    ConversationView, CreateConversation, CreateUser, MintToken, TokenMinted, Visibility,
};
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::settings::Settings;
use crate::workload::{ConversationKind, ConversationPlan};

/// What the WebSocket phase needs: one token per user, one id per planned conversation (same order).
#[derive(Debug)]
pub struct Provisioned {
    pub tokens: Vec<String>,
    pub conversation_ids: Vec<String>,
}

/// Token lifetime: longer than any bounded run.
const TOKEN_TTL_SECS: u64 = 3 * 3600;
const MAX_ATTEMPTS: u32 = 6;

struct Rest {
    client: reqwest::Client,
    base: String,
}

impl Rest {
    /// POSTs JSON with a bearer credential; retries what the server says is worth retrying (429, 503).
    async fn post<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        path: &str,
        credential: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = self
                .client
                .post(&url)
                .bearer_auth(credential)
                .json(body)
                .send()
                .await
                .with_context(|| format!("POST {url}"))?;
            let status = response.status();
            let text = response
                .text()
                .await
                .with_context(|| format!("reading the answer of POST {url}"))?;
            if status.is_success() {
                return serde_json::from_str(&text)
                    .with_context(|| format!("POST {url}: unexpected answer {}", excerpt(&text)));
            }
            let retryable = status.as_u16() == 429 || status.as_u16() == 503;
            if retryable && attempt < MAX_ATTEMPTS {
                let wait_ms = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|body| {
                        body.pointer("/details/retry_after_ms")
                            .and_then(serde_json::Value::as_u64)
                    })
                    .unwrap_or(200 << attempt);
                tokio::time::sleep(Duration::from_millis(wait_ms.min(10_000))).await;
                continue;
            }
            anyhow::bail!("POST {url}: {status} {}", excerpt(&text));
        }
    }
}

fn excerpt(text: &str) -> &str {
    let end = text
        .char_indices()
        .nth(300)
        .map_or(text.len(), |(index, _)| index);
    &text[..end]
}

pub async fn provision(
    settings: &Settings,
    plans: &[ConversationPlan],
    run_id: &str,
) -> anyhow::Result<Provisioned> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(settings.setup_concurrency)
        .build()
        .context("building the HTTP client")?;
    let rest = Rest {
        client,
        base: settings.http_base.clone(),
    };
    let user_ids: Vec<String> = (0..settings.connections)
        .map(|index| format!("lg{run_id}-{index}"))
        .collect();

    let tokens: Vec<String> = futures_util::stream::iter(user_ids.iter())
        .map(|user_id| {
            let rest = &rest;
            async move {
                let _: serde_json::Value = rest
                    .post(
                        "/v1/users",
                        &settings.api_key,
                        &CreateUser {
                            user_id: user_id.clone(),
                            name: user_id.clone(),
                            metadata: serde_json::json!({}),
                        },
                    )
                    .await
                    .with_context(|| format!("creating user {user_id} (is the API key right?)"))?;
                let minted: TokenMinted = rest
                    .post(
                        &format!("/v1/users/{user_id}/tokens"),
                        &settings.api_key,
                        &MintToken {
                            ttl_secs: Some(TOKEN_TTL_SECS),
                        },
                    )
                    .await
                    .with_context(|| format!("minting a token for {user_id}"))?;
                anyhow::Ok(minted.token)
            }
        })
        .buffered(settings.setup_concurrency)
        .try_collect()
        .await?;

    let conversation_ids: Vec<String> = futures_util::stream::iter(plans.iter().enumerate())
        .map(|(index, plan)| {
            let (rest, tokens, user_ids) = (&rest, &tokens, &user_ids);
            async move {
                let creator = plan.members[0] as usize;
                let request = match plan.kind {
                    ConversationKind::Direct => CreateConversation::Direct {
                        peer_id: user_ids[plan.members[1] as usize].clone(),
                    },
                    ConversationKind::Group => CreateConversation::Group {
                        name: format!("lg{run_id} group {index}"),
                        visibility: Visibility::Private,
                        password: None,
                        members: plan.members[1..]
                            .iter()
                            .map(|m| user_ids[*m as usize].clone())
                            .collect(),
                        metadata: serde_json::json!({}),
                    },
                };
                let view: ConversationView = rest
                    .post("/v1/conversations", &tokens[creator], &request)
                    .await
                    .with_context(|| {
                        format!(
                            "creating conversation {index} ({} members)",
                            plan.members.len()
                        )
                    })?;
                anyhow::Ok(view.conversation_id)
            }
        })
        .buffered(settings.setup_concurrency)
        .try_collect()
        .await?;

    Ok(Provisioned {
        tokens,
        conversation_ids,
    })
}

/// Centrifugo needs no provisioning: users exist by their signed tokens, and a channel by being
/// subscribed to. Channel names carry the run id, so that no other run's publications mix in.
pub fn centrifugo_channels(
    settings: &Settings,
    plans: &[ConversationPlan],
    run_id: &str,
) -> Provisioned {
    let expires_at_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
        + TOKEN_TTL_SECS;
    Provisioned {
        tokens: (0..settings.connections)
            .map(|index| {
                crate::centrifugo::token(
                    &settings.api_key,
                    &format!("lg{run_id}-{index}"),
                    expires_at_secs,
                )
            })
            .collect(),
        conversation_ids: (0..plans.len())
            .map(|index| format!("lg{run_id}-c{index}"))
            .collect(),
    }
}
