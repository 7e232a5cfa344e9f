//! Apps, API keys and user tokens.

use super::{ChatService, Principal};
use crate::auth::{Claims, TokenError, api_key, jwt};
use crate::error::{DomainError, DomainResult};
use crate::events::{DomainEvent, Recipients};
use crate::ids::{AppId, UserId, new_id, now_ms};
use crate::model::{ApiKeyRecord, App};
use cc_protocol::ErrorCode;
use cc_protocol::rest::{ApiKeyCreated, ApiKeyView, TokenMinted};

fn unauthorized() -> DomainError {
    DomainError::new(ErrorCode::Unauthorized, "missing or invalid credentials")
}

impl ChatService {
    pub async fn create_app(&self, name: &str) -> DomainResult<(App, ApiKeyCreated)> {
        if name.trim().is_empty() || name.len() > 100 {
            return Err(DomainError::invalid("name", "must be 1-100 bytes"));
        }
        let app = App {
            id: AppId(new_id()),
            name: name.to_owned(),
            created_at_ms: now_ms(),
        };
        self.store.create_app(&app).await?;
        let key = self.create_api_key(&app.id, "initial").await?;
        Ok((app, key))
    }

    pub async fn create_api_key(&self, app_id: &AppId, label: &str) -> DomainResult<ApiKeyCreated> {
        crate::validate::short_text("label", label, 100)?;
        let generated = api_key::generate();
        let record = ApiKeyRecord {
            key_id: generated.key_id.clone(),
            app_id: app_id.clone(),
            label: label.to_owned(),
            secret_hash: generated.secret_hash,
            created_at_ms: now_ms(),
            revoked_at_ms: None,
        };
        self.store.insert_api_key(&record).await?;
        self.publish(
            app_id,
            Recipients::None,
            DomainEvent::ApiKeyCreated {
                key_id: record.key_id.clone(),
            },
        )
        .await;
        Ok(ApiKeyCreated {
            key_id: record.key_id,
            label: record.label,
            api_key: generated.full,
            created_at_ms: record.created_at_ms,
        })
    }

    pub async fn list_api_keys(&self, app_id: &AppId) -> DomainResult<Vec<ApiKeyView>> {
        let keys = self.store.list_api_keys(app_id).await?;
        Ok(keys
            .into_iter()
            .map(|k| ApiKeyView {
                key_id: k.key_id,
                label: k.label,
                created_at_ms: k.created_at_ms,
                revoked_at_ms: k.revoked_at_ms,
            })
            .collect())
    }

    pub async fn revoke_api_key(&self, app_id: &AppId, key_id: &str) -> DomainResult<()> {
        if !self.store.revoke_api_key(app_id, key_id, now_ms()).await? {
            return Err(DomainError::not_found("api key"));
        }
        self.publish(
            app_id,
            Recipients::None,
            DomainEvent::ApiKeyRevoked {
                key_id: key_id.to_owned(),
            },
        )
        .await;
        Ok(())
    }

    /// The app an API key belongs to; every failure is the same `unauthorized`.
    pub async fn authenticate_api_key(&self, presented: &str) -> DomainResult<AppId> {
        let (key_id, secret) = api_key::parse(presented).ok_or_else(unauthorized)?;
        let record = self
            .store
            .get_api_key(key_id)
            .await?
            .ok_or_else(unauthorized)?;
        if record.revoked_at_ms.is_some()
            || !api_key::hashes_equal(&api_key::hash_secret(secret), &record.secret_hash)
        {
            return Err(unauthorized());
        }
        Ok(record.app_id)
    }

    pub async fn mint_token(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        ttl_secs: Option<u64>,
    ) -> DomainResult<TokenMinted> {
        let ttl = ttl_secs.unwrap_or(self.limits.token_ttl_default_secs);
        if ttl == 0 || ttl > self.limits.token_ttl_max_secs {
            return Err(DomainError::invalid(
                "ttl_secs",
                format!("must be 1-{}", self.limits.token_ttl_max_secs),
            ));
        }
        let user = self
            .store
            .get_user(app_id, user_id)
            .await?
            .ok_or_else(|| DomainError::not_found("user"))?;
        if !user.active {
            return Err(DomainError::conflict("the user is deactivated"));
        }
        let now_secs = now_ms() / 1000;
        let exp = now_secs + i64::try_from(ttl).unwrap_or(0);
        let claims = Claims {
            iss: jwt::ISSUER.into(),
            sub: user_id.0.clone(),
            aud: Claims::audience_for(&app_id.0),
            app: app_id.0.clone(),
            iat: now_secs,
            exp,
            jti: new_id(),
        };
        let (token, kid) = self
            .keys
            .sign(&claims)
            .ok_or_else(|| DomainError::new(ErrorCode::Internal, "no signing key"))?;
        Ok(TokenMinted {
            token,
            expires_at_ms: exp * 1000,
            kid,
        })
    }

    /// A verified, unexpired, unrevoked token of an active user of an existing app.
    pub async fn authenticate_token(&self, token: &str) -> DomainResult<Principal> {
        let now = now_ms();
        let claims = self
            .keys
            .verify(token, now / 1000)
            .map_err(|error| match error {
                TokenError::Expired => DomainError::new(
                    ErrorCode::TokenExpired,
                    "the token has expired; mint a new one",
                ),
                _ => unauthorized(),
            })?;
        let app_id = AppId(claims.app);
        let user_id = UserId(claims.sub);
        let user = self
            .store
            .get_user(&app_id, &user_id)
            .await?
            .ok_or_else(unauthorized)?;
        if !user.active || self.presence.is_token_denied(&claims.jti, now).await {
            return Err(unauthorized());
        }
        Ok(Principal {
            app_id,
            user_id,
            token_id: claims.jti,
            expires_at_ms: claims.exp * 1000,
        })
    }
}
