//! Service-account authentication: the account's JSON key, a JWT signed with its RSA key (RS256), exchanged at the
//! account's `token_uri` for an OAuth access token that is cached and refreshed before it expires.
//!
//! Nothing secret ever reaches a message or a `Debug` output: the private key stays inside aws-lc-rs, the
//! assertion is built and sent in one place, and the access token is a [`Secret`].

use crate::backend::remote::Secret;
use crate::error::{Error, ErrorKind, Result};
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A token is refreshed when less than this is left of it (or less than half its lifetime, for short ones).
pub(super) const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Lifetime asked for in the JWT (Google's maximum).
const ASSERTION_LIFETIME_SECS: i64 = 3600;

/// A service account's key, as read from its JSON key file.
pub(super) struct ServiceAccount {
    client_email: String,
    key_id: Option<String>,
    key: RsaKeyPair,
    /// Where assertions are exchanged for tokens (and their audience).
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

fn auth_err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Auth, msg)
}

impl ServiceAccount {
    /// Reads and checks a service-account key file. Messages name the file and the field at fault, never a value.
    pub fn load(path: &Path) -> Result<ServiceAccount> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| {
            let mut err = Error::io(&e, "cannot read the Google credentials file", &shown);
            if err.kind() == ErrorKind::NotFound {
                err = Error::new(ErrorKind::Auth, err.message().to_string()).with_path(&shown);
            }
            err
        })?;
        Self::parse(&bytes, &shown)
    }

    /// Parses the JSON of a service-account key (`shown` names it in messages).
    pub fn parse(bytes: &[u8], shown: &str) -> Result<ServiceAccount> {
        let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| {
            auth_err(format!("{shown} is not a service-account key file (not JSON)"))
        })?;
        let field = |name: &str| -> Result<String> {
            v.get(name).and_then(|x| x.as_str()).map(str::to_string).ok_or_else(|| {
                auth_err(format!("{shown} is not a service-account key file (no {name})"))
            })
        };
        if let Some(t) = v.get("type").and_then(|t| t.as_str())
            && t != "service_account"
        {
            return Err(auth_err(format!(
                "{shown} holds credentials of type {t:?}; gdrive:// needs a service account's key"
            )));
        }
        let client_email = field("client_email")?;
        let pem = Secret::new(field("private_key")?);
        let token_uri = v
            .get("token_uri")
            .and_then(|x| x.as_str())
            .unwrap_or("https://oauth2.googleapis.com/token")
            .to_string();
        check_url(&token_uri, "token_uri")?;
        let der = pem_to_der(pem.expose()).ok_or_else(|| {
            auth_err(format!("{shown}: private_key is not a PEM \"PRIVATE KEY\" block"))
        })?;
        let key = RsaKeyPair::from_pkcs8(&der).map_err(|_| {
            auth_err(format!("{shown}: private_key is not an RSA key in PKCS#8 form"))
        })?;
        let key_id = v.get("private_key_id").and_then(|x| x.as_str()).map(str::to_string);
        Ok(ServiceAccount { client_email, key_id, key, token_uri })
    }

    /// The account's address (for messages).
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// A signed JWT asking for `scope`, issued at `now` (seconds since the epoch).
    fn assertion(&self, scope: &str, now: i64) -> Result<Secret> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = kid.clone().into();
        }
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": scope,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| {
                auth_err("cannot sign the token request with the service account's key")
            })?;
        Ok(Secret::new(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))))
    }
}

/// Decodes the first `-----BEGIN PRIVATE KEY-----` block of `pem`.
fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let start = pem.find("-----BEGIN PRIVATE KEY-----")? + "-----BEGIN PRIVATE KEY-----".len();
    let end = start + pem[start..].find("-----END PRIVATE KEY-----")?;
    let b64: String = pem[start..end].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

/// Whether `url` is on this machine (http is allowed only there: tests and local proxies).
pub(super) fn is_loopback_url(url: &str) -> bool {
    reqwest::Url::parse(url).ok().is_some_and(|u| {
        let h = u.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
        h.eq_ignore_ascii_case("localhost")
            || h.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
    })
}

/// Checks that a service URL is https, or http on the loopback interface.
pub(super) fn check_url(url: &str, what: &str) -> Result<()> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| Error::invalid(format!("{what} {url:?} is not a URL")))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_url(url) => Ok(()),
        _ => Err(Error::invalid(format!(
            "{what} {url:?} must be https (http only on the loopback interface)"
        ))),
    }
}

struct Token {
    value: Secret,
    expires_at: Instant,
    lifetime: Duration,
}

/// Whether a token with `remaining` of its `lifetime` left is refreshed before use.
pub(super) fn needs_refresh(remaining: Duration, lifetime: Duration) -> bool {
    remaining < REFRESH_MARGIN.min(lifetime / 2)
}

/// Access tokens of one service account: fetched on first use, shared by every request, refreshed before they
/// expire and when the API says one is no longer valid.
pub(super) struct TokenSource {
    account: ServiceAccount,
    scope: String,
    current: tokio::sync::Mutex<Option<Token>>,
    fetched: AtomicU64,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("account", &self.account)
            .field("scope", &self.scope)
            .field("fetched", &self.fetched.load(Ordering::Relaxed))
            .finish()
    }
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenSource {
    /// Tokens for `account` with `scopes`.
    pub fn new(account: ServiceAccount, scopes: &[String]) -> TokenSource {
        TokenSource {
            account,
            scope: scopes.join(" "),
            current: tokio::sync::Mutex::new(None),
            fetched: AtomicU64::new(0),
        }
    }

    /// A valid access token (one request to the token endpoint when none is cached or it is about to expire).
    pub async fn token(&self, http: &reqwest::Client) -> Result<Secret> {
        let mut cur = self.current.lock().await;
        if let Some(t) = cur.as_ref() {
            let remaining = t.expires_at.saturating_duration_since(Instant::now());
            if !needs_refresh(remaining, t.lifetime) {
                return Ok(t.value.clone());
            }
        }
        let t = self.fetch(http).await?;
        let value = t.value.clone();
        *cur = Some(t);
        Ok(value)
    }

    /// Forgets `used` (the API refused it): the next [`TokenSource::token`] fetches a new one. A token another
    /// request already replaced is left alone.
    pub async fn invalidate(&self, used: &Secret) {
        let mut cur = self.current.lock().await;
        if cur.as_ref().is_some_and(|t| t.value == *used) {
            *cur = None;
        }
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<Token> {
        let now = chrono::Utc::now().timestamp();
        let assertion = self.account.assertion(&self.scope, now)?;
        // The assertion is base64url and dots: nothing to escape in a form body.
        let mut body = String::from(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=",
        );
        body.push_str(assertion.expose());
        let started = Instant::now();
        let resp = http
            .post(&self.account.token_uri)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| super::api::net_err(e, "Google token endpoint"))?;
        self.fetched.fetch_add(1, Ordering::Relaxed);
        let status = resp.status();
        let retry_after = super::api::retry_after(resp.headers());
        let bytes =
            resp.bytes().await.map_err(|e| super::api::net_err(e, "Google token endpoint"))?;
        if status.is_success() {
            let t: TokenResponse = serde_json::from_slice(&bytes).map_err(|_| {
                Error::new(
                    ErrorKind::Corrupt,
                    "the Google token endpoint sent an unreadable answer",
                )
            })?;
            let lifetime = Duration::from_secs(t.expires_in.unwrap_or(3600).max(1));
            return Ok(Token {
                value: Secret::new(t.access_token),
                expires_at: started + lifetime,
                lifetime,
            });
        }
        // OAuth errors: {"error": "invalid_grant", "error_description": "..."}; never echo anything else.
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let short = |s: &str| s.chars().take(200).collect::<String>();
        let code = v.get("error").and_then(|e| e.as_str()).map(short).unwrap_or_default();
        let desc =
            v.get("error_description").and_then(|e| e.as_str()).map(short).unwrap_or_default();
        let who = self.account.client_email();
        let code_num = status.as_u16();
        let e = match code_num {
            429 => Error::new(
                ErrorKind::Unavailable,
                format!("Google token endpoint: 429 rate limited ({code} {desc})"),
            ),
            500..=599 => Error::new(
                ErrorKind::Unavailable,
                format!("Google token endpoint: {code_num} service unavailable ({code} {desc})"),
            ),
            _ => Error::new(
                ErrorKind::Auth,
                format!(
                    "Google refused the service account {who}: {code_num} {code} ({desc}); check the key file \
                     and that the account is enabled"
                ),
            ),
        };
        Err(match retry_after {
            Some(s) => e.with_details(serde_json::json!({ "retry_after_secs": s })),
            None => e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;

    fn key_json(token_uri: &str) -> (String, Vec<u8>) {
        let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp).unwrap();
        let b64 = STANDARD.encode(der.as_ref());
        let lines: Vec<&str> =
            b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        let public = aws_lc_rs::signature::KeyPair::public_key(&kp).as_ref().to_vec();
        let json = serde_json::json!({
            "type": "service_account",
            "client_email": "sync@example.iam.gserviceaccount.com",
            "private_key_id": "kid1",
            "private_key": pem,
            "token_uri": token_uri,
        });
        (json.to_string(), public)
    }

    #[test]
    fn assertions_are_signed_rs256_jwts_and_nothing_secret_is_shown() {
        let (json, public) = key_json("http://127.0.0.1:9/token");
        let sa = ServiceAccount::parse(json.as_bytes(), "key.json").unwrap();
        let dbg = format!("{sa:?}");
        assert!(!dbg.contains("PRIVATE KEY") && dbg.contains("redacted"), "{dbg}");
        let jwt = sa.assertion("https://www.googleapis.com/auth/drive.file", 1000).unwrap();
        assert_eq!(format!("{jwt:?}"), "[redacted]");
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "sync@example.iam.gserviceaccount.com");
        assert_eq!(claims["aud"], "http://127.0.0.1:9/token");
        assert_eq!((claims["iat"].as_i64(), claims["exp"].as_i64()), (Some(1000), Some(4600)));
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!((header["alg"].as_str(), header["kid"].as_str()), (Some("RS256"), Some("kid1")));
        let key = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            &public,
        );
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).unwrap();
    }

    #[test]
    fn bad_key_files_are_auth_errors_that_show_no_key_material() {
        let (json, _) = key_json("https://oauth2.googleapis.com/token");
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["private_key"] =
            "-----BEGIN PRIVATE KEY-----\nTUlJQ0lKVVNUR0FSQkFHRQ==\n-----END PRIVATE KEY-----\n"
                .into();
        let e = ServiceAccount::parse(v.to_string().as_bytes(), "key.json").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert!(!e.message().contains("TUlJ"), "{}", e.message());
        let e = ServiceAccount::parse(b"{\"type\": \"authorized_user\"}", "k.json").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth);
        let e = ServiceAccount::parse(b"not json", "k.json").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth);
        v["private_key"] =
            serde_json::from_str::<serde_json::Value>(&json).unwrap()["private_key"].clone();
        v["token_uri"] = "http://oauth.example.com/token".into();
        let e = ServiceAccount::parse(v.to_string().as_bytes(), "key.json").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "plain http is for the loopback only");
    }

    #[test]
    fn tokens_are_refreshed_five_minutes_before_they_expire() {
        let hour = Duration::from_secs(3600);
        assert!(!needs_refresh(Duration::from_secs(301), hour));
        assert!(needs_refresh(Duration::from_secs(299), hour));
        assert!(needs_refresh(Duration::ZERO, hour));
        // A short-lived token is used for the first half of its life.
        let short = Duration::from_secs(120);
        assert!(!needs_refresh(Duration::from_secs(61), short));
        assert!(needs_refresh(Duration::from_secs(59), short));
    }
}
