//! User tokens: compact JWS, EdDSA (ed25519) only. Pure encode/verify over a given key set.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "ccserver";
/// Clock skew tolerated on `exp`.
pub const LEEWAY_SECS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub app: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

impl Claims {
    pub fn audience_for(app_id: &str) -> String {
        format!("ccserver:{app_id}")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is not a well-formed JWS compact token")]
    Malformed,
    #[error("token algorithm is not EdDSA")]
    WrongAlgorithm,
    #[error("token key id is not in the key ring")]
    UnknownKey,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token issuer or audience is not this server and app")]
    WrongAudience,
}

pub fn sign(kid: &str, key: &SigningKey, claims: &Claims) -> String {
    let header = Header {
        alg: "EdDSA".into(),
        typ: Some("JWT".into()),
        kid: Some(kid.into()),
    };
    // Both structs hold only strings and integers: serialization cannot fail.
    let header_json = serde_json::to_vec(&header).unwrap_or_default();
    let claims_json = serde_json::to_vec(claims).unwrap_or_default();
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(claims_json)
    );
    let signature = key.sign(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

/// Verify signature, algorithm, issuer, audience shape and expiry. `lookup` maps a `kid` to its key.
pub fn verify(
    token: &str,
    now_secs: i64,
    lookup: impl Fn(&str) -> Option<VerifyingKey>,
) -> Result<Claims, TokenError> {
    if token.len() > 4096 {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header: Header = decode_json(header_b64)?;
    // Only EdDSA: refusing everything else closes `none`, HS256-with-public-key and RS256 confusion.
    if header.alg != "EdDSA" {
        return Err(TokenError::WrongAlgorithm);
    }
    let kid = header.kid.ok_or(TokenError::UnknownKey)?;
    let key = lookup(&kid).ok_or(TokenError::UnknownKey)?;
    let signature_bytes = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| TokenError::Malformed)?;
    let signature = Signature::from_slice(&signature_bytes).map_err(|_| TokenError::Malformed)?;
    let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
    key.verify(signing_input.as_bytes(), &signature)
        .map_err(|_| TokenError::BadSignature)?;
    let claims: Claims = decode_json(claims_b64)?;
    if claims.iss != ISSUER || claims.aud != Claims::audience_for(&claims.app) {
        return Err(TokenError::WrongAudience);
    }
    if claims.exp + LEEWAY_SECS < now_secs {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

fn decode_json<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            iss: ISSUER.into(),
            sub: "alice".into(),
            aud: Claims::audience_for("app1"),
            app: "app1".into(),
            iat: 0,
            exp,
            jti: "j".into(),
        }
    }

    fn forge(header: &str, claims: &Claims, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    #[test]
    fn verification_table() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let lookup = |kid: &str| (kid == "k1").then(|| key.verifying_key());
        let good = sign("k1", &key, &claims(1000));
        assert_eq!(verify(&good, 500, lookup).unwrap().sub, "alice");
        let cases: Vec<(String, TokenError)> = vec![
            (sign("k1", &key, &claims(100)), TokenError::Expired),
            (sign("k1", &other, &claims(1000)), TokenError::BadSignature),
            (sign("k2", &key, &claims(1000)), TokenError::UnknownKey),
            (
                forge(r#"{"alg":"none","kid":"k1"}"#, &claims(1000), b""),
                TokenError::WrongAlgorithm,
            ),
            (
                forge(r#"{"alg":"HS256","kid":"k1"}"#, &claims(1000), &[0; 32]),
                TokenError::WrongAlgorithm,
            ),
            (
                forge(r#"{"alg":"RS256","kid":"k1"}"#, &claims(1000), &[0; 256]),
                TokenError::WrongAlgorithm,
            ),
            ("a.b".into(), TokenError::Malformed),
            ("not a token".into(), TokenError::Malformed),
            (
                sign(
                    "k1",
                    &key,
                    &Claims {
                        aud: "ccserver:other".into(),
                        ..claims(1000)
                    },
                ),
                TokenError::WrongAudience,
            ),
        ];
        for (token, expected) in cases {
            assert_eq!(verify(&token, 500, lookup), Err(expected), "{token}");
        }
    }
}
