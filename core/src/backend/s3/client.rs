//! The connection to one bucket: object_store's S3 client for the common calls, a few signed requests of our own for
//! what it does not offer (listing unfinished multipart uploads and their parts, replacing an object's metadata),
//! and the mapping of every failure to an [`ErrorKind`] with a message that never carries a secret.

use crate::backend::remote::{S3Location, S3Options};
use crate::error::{Error, ErrorKind, Result};
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsAuthorizer, AwsCredential};
use object_store::client::{
    HttpClient, HttpConnector, HttpErrorKind, HttpRequestBody, ReqwestConnector,
};
use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use std::time::Duration;

/// Seconds to wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Seconds one request may take (a part of 16 MiB over a slow link included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Removes secrets from text that may quote them (a service's error body, a library's error chain).
#[derive(Clone, Default)]
pub(crate) struct Redactor(Vec<String>);

impl Redactor {
    pub fn scrub(&self, s: &str) -> String {
        let mut out = s.to_string();
        for secret in &self.0 {
            if secret.len() >= 4 {
                out = out.replace(secret.as_str(), "[redacted]");
            }
        }
        out
    }
}

/// A connected bucket (connections are opened on the first request).
pub(crate) struct Conn {
    pub store: AmazonS3,
    http: HttpClient,
    cred: AwsCredential,
    region: String,
    /// `scheme://host[:port]/bucket` (path style) or `scheme://bucket.host[:port]` (virtual-hosted style).
    base_url: String,
    pub redact: Redactor,
}

impl Conn {
    /// Builds the clients; no network I/O happens here.
    pub fn new(loc: &S3Location, o: &S3Options) -> Result<Conn> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let key_id = o
            .access_key_id
            .as_ref()
            .map(|s| s.expose().to_string())
            .or_else(|| env("AWS_ACCESS_KEY_ID"));
        let secret = o
            .secret_access_key
            .as_ref()
            .map(|s| s.expose().to_string())
            .or_else(|| env("AWS_SECRET_ACCESS_KEY"));
        let token = o
            .session_token
            .as_ref()
            .map(|s| s.expose().to_string())
            .or_else(|| env("AWS_SESSION_TOKEN"));
        let (Some(key_id), Some(secret)) = (key_id, secret) else {
            return Err(Error::new(
                ErrorKind::Auth,
                format!(
                    "{loc}: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones)"
                ),
            ));
        };
        let region = o
            .region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        let endpoint = o.endpoint_url.as_deref().map(|e| e.trim_end_matches('/').to_string());
        if let Some(e) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(Error::invalid(format!(
                "S3 endpoint {e:?} must start with http:// or https://"
            )));
        }
        let path_style = o.path_style.unwrap_or(endpoint.is_some());
        let allow_http = endpoint.as_deref().is_some_and(|e| e.starts_with("http://"));
        let client_opts = ClientOptions::new()
            .with_allow_http(allow_http)
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT);
        // Few, quick retries: the engine's recovery layer decides how long to keep trying.
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: Duration::from_secs(15),
        };
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&loc.bucket)
            .with_region(&region)
            .with_access_key_id(&key_id)
            .with_secret_access_key(&secret)
            .with_virtual_hosted_style_request(!path_style)
            .with_allow_http(allow_http)
            .with_client_options(client_opts.clone())
            .with_retry(retry);
        if let Some(t) = &token {
            b = b.with_token(t);
        }
        let scheme_host =
            endpoint.clone().unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        if let Some(e) = &endpoint {
            // object_store wants the bucket in a virtual-hosted endpoint already.
            let e = if path_style { e.clone() } else { with_bucket_host(e, &loc.bucket) };
            b = b.with_endpoint(e);
        }
        let mut redact = vec![secret.clone(), key_id.clone()];
        redact.extend(token.clone());
        let redact = Redactor(redact);
        let store = b.build().map_err(|e| {
            Error::invalid(format!("{loc}: bad S3 settings: {}", redact.scrub(&e.to_string())))
        })?;
        let http = ReqwestConnector::default().connect(&client_opts).map_err(|e| {
            Error::internal(format!(
                "{loc}: cannot set up the HTTP client: {}",
                redact.scrub(&e.to_string())
            ))
        })?;
        let base_url = if path_style {
            format!("{scheme_host}/{}", loc.bucket)
        } else {
            with_bucket_host(&scheme_host, &loc.bucket)
        };
        Ok(Conn {
            store,
            http,
            cred: AwsCredential { key_id, secret_key: secret, token },
            region,
            base_url,
            redact,
        })
    }

    /// The URL of `key` (or of the bucket when None) with `query` (names and values, encoded here).
    fn url(&self, key: Option<&str>, query: &[(&str, &str)]) -> String {
        let mut u = self.base_url.clone();
        u.push('/');
        if let Some(k) = key {
            u.push_str(&encode_key(k));
        }
        for (i, (n, v)) in query.iter().enumerate() {
            u.push(if i == 0 { '?' } else { '&' });
            u.push_str(&encode(n));
            u.push('=');
            u.push_str(&encode(v));
        }
        u
    }

    /// One signed request of our own. Failures (transport, or a status that is not 2xx) are mapped like
    /// object_store's; `what` names the object for messages.
    pub async fn raw(
        &self,
        method: http::Method,
        key: Option<&str>,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        what: &str,
    ) -> Result<(http::StatusCode, http::HeaderMap, bytes::Bytes)> {
        let url = self.url(key, query);
        let doing = method.as_str().to_string();
        let mut b = http::Request::builder().method(method).uri(&url);
        for (n, v) in headers {
            b = b.header(*n, v.as_str());
        }
        let mut req = b
            .body(HttpRequestBody::empty())
            .map_err(|e| Error::invalid(format!("S3 {doing} {what}: bad request: {e}")))?;
        AwsAuthorizer::new(&self.cred, "s3", &self.region).try_authorize(&mut req, None).map_err(
            |e| {
                Error::internal(format!(
                    "S3 {doing} {what}: cannot sign: {}",
                    self.redact.scrub(&e.to_string())
                ))
            },
        )?;
        let resp = self.http.execute(req).await.map_err(|e| {
            let kind = transport_kind(e.kind());
            Error::new(kind, format!("S3 {doing} {what}: {}", self.redact.scrub(&chain(&e))))
        })?;
        let (parts, body) = resp.into_parts();
        let body = body.bytes().await.map_err(|e| {
            Error::new(
                transport_kind(e.kind()),
                format!("S3 {doing} {what}: {}", self.redact.scrub(&chain(&e))),
            )
        })?;
        if !parts.status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let retry_after = parts
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok());
            let mut e = status_error(parts.status.as_u16(), &text, &doing, what, &self.redact);
            if let Some(s) = retry_after {
                e = e.with_details(serde_json::json!({ "retry_after_secs": s }));
            }
            return Err(e);
        }
        Ok((parts.status, parts.headers, body))
    }
}

fn with_bucket_host(endpoint: &str, bucket: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{bucket}.{rest}"),
        None => format!("{bucket}.{endpoint}"),
    }
}

const KEEP: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// URI-encodes a query name or value the way SigV4 wants it.
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, KEEP).to_string()
}

/// URI-encodes a key, keeping its `/`.
fn encode_key(k: &str) -> String {
    k.split('/').map(encode).collect::<Vec<_>>().join("/")
}

fn transport_kind(k: HttpErrorKind) -> ErrorKind {
    match k {
        HttpErrorKind::Timeout => ErrorKind::Timeout,
        _ => ErrorKind::Network,
    }
}

/// Whether `e` says the object is not there (and not that the bucket is missing, which is an error).
pub(crate) fn is_missing(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. }) && !chain(e).contains("NoSuchBucket")
}

/// The error and its sources, each said once.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = c.source();
    }
    parts.join(": ")
}

/// The text of the first `<tag>` element in `xml`, unescaped.
pub(crate) fn xml_tag<'a>(xml: &'a str, tag: &str) -> Option<std::borrow::Cow<'a, str>> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(unescape(&xml[start..end]))
}

/// Every `<tag>…</tag>` block in `xml`, in order.
pub(crate) fn xml_blocks<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(&after[..j]);
        rest = &after[j + close.len()..];
    }
    out
}

fn unescape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('&') {
        return s.into();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let Some(end) = after.find(';') else {
            out.push_str(after);
            return out.into();
        };
        let ent = &after[1..end];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => out.push(c),
            None => out.push_str(&after[..=end]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out.into()
}

/// The kind of an S3 error response, from its status and error code.
fn status_kind(status: u16, code: &str) -> ErrorKind {
    const AUTH_CODES: [&str; 8] = [
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "MissingSecurityHeader",
        "InvalidSecurity",
        "RequestTimeTooSkewed",
    ];
    match (status, code) {
        (_, c) if AUTH_CODES.contains(&c) => ErrorKind::Auth,
        (_, "SlowDown" | "ServiceUnavailable" | "InternalError" | "RequestLimitExceeded") => {
            ErrorKind::Unavailable
        }
        (_, "RequestTimeout") => ErrorKind::Timeout,
        (_, "NoSuchBucket" | "NoSuchKey" | "NoSuchUpload") => ErrorKind::NotFound,
        (_, "QuotaExceeded" | "EntityTooLarge") => ErrorKind::Resource,
        (401, _) => ErrorKind::Auth,
        (403, _) => ErrorKind::Permission,
        (404, _) => ErrorKind::NotFound,
        (409 | 412, _) => ErrorKind::Conflict,
        (429, _) => ErrorKind::Unavailable,
        (500..=599, _) => ErrorKind::Unavailable,
        (400..=499, _) => ErrorKind::InvalidInput,
        _ => ErrorKind::Internal,
    }
}

fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("")
}

/// The error of a response with `status` and `body` (an S3 XML error document, or anything).
pub(crate) fn status_error(
    status: u16,
    body: &str,
    doing: &str,
    what: &str,
    r: &Redactor,
) -> Error {
    let code = xml_tag(body, "Code").map(|c| c.into_owned()).unwrap_or_default();
    let message = xml_tag(body, "Message").map(|c| c.into_owned()).unwrap_or_default();
    let kind = status_kind(status, &code);
    let mut m = format!("S3 {doing} {what}: {status} {}", reason(status));
    if !code.is_empty() {
        m.push_str(&format!(" ({code}"));
        if !message.is_empty() {
            m.push_str(&format!(": {message}"));
        }
        m.push(')');
    }
    Error::new(kind, r.scrub(&m))
}

/// Maps an object_store error. Its status and body (S3's `<Code>`) are read from the error's text (object_store
/// does not expose them otherwise); transport failures from its [`object_store::client::HttpError`].
pub(crate) fn map_err(e: &object_store::Error, doing: &str, what: &str, r: &Redactor) -> Error {
    // A transport failure: no response at all.
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(h) = c.downcast_ref::<object_store::client::HttpError>() {
            let kind = transport_kind(h.kind());
            let detail = chain(h);
            let detail = detail.strip_prefix("HTTP error: ").unwrap_or(&detail);
            return Error::new(kind, r.scrub(&format!("S3 {doing} {what}: {detail}")));
        }
        cur = c.source();
    }
    let text = chain(e);
    let status = text
        .split("status code: ")
        .nth(1)
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse::<u16>().ok())
        .or(match e {
            object_store::Error::NotFound { .. } => Some(404),
            object_store::Error::PermissionDenied { .. } => Some(403),
            object_store::Error::Unauthenticated { .. } => Some(401),
            object_store::Error::Precondition { .. } => Some(412),
            object_store::Error::AlreadyExists { .. } => Some(409),
            _ => None,
        });
    match status {
        Some(s) => status_error(s, &text, doing, what, r),
        None => {
            // An error document inside a 200 response, or something else entirely.
            let code = xml_tag(&text, "Code").map(|c| c.into_owned()).unwrap_or_default();
            Error::new(status_kind(200, &code), r.scrub(&format!("S3 {doing} {what}: {text}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_classify_and_hide_secrets() {
        let r = Redactor(vec!["SECRETKEY123".into(), "AKIAEXAMPLE".into()]);
        let body = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
        let e = status_error(503, body, "PUT", "a.bin", &r);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.message().contains("503 Service Unavailable (SlowDown"), "{}", e.message());
        assert_eq!(crate::recovery::classify(&e).category, crate::recovery::Category::RateLimited);
        let body = "<Error><Code>SignatureDoesNotMatch</Code><Message>bad</Message><AWSAccessKeyId>AKIAEXAMPLE</AWSAccessKeyId><StringToSign>SECRETKEY123</StringToSign></Error>";
        let e = status_error(403, body, "GET", "x", &r);
        assert_eq!(e.kind(), ErrorKind::Auth);
        let e = status_error(403, "<Error><Code>AccessDenied</Code></Error>", "GET", "x", &r);
        assert_eq!(e.kind(), ErrorKind::Permission);
        let e = status_error(404, "<Error><Code>NoSuchBucket</Code></Error>", "GET", "x", &r);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = status_error(429, "", "GET", "x", &r);
        assert_eq!(crate::recovery::classify(&e).category, crate::recovery::Category::RateLimited);
        assert_eq!(r.scrub("key AKIAEXAMPLE and SECRETKEY123"), "key [redacted] and [redacted]");
    }

    #[test]
    fn xml_helpers() {
        let x = "<R><Upload><Key>a&amp;b</Key></Upload><Upload><Key>c&#x41;</Key></Upload></R>";
        let b = xml_blocks(x, "Upload");
        assert_eq!(b.len(), 2);
        assert_eq!(xml_tag(b[0], "Key").unwrap(), "a&b");
        assert_eq!(xml_tag(b[1], "Key").unwrap(), "cA");
        assert_eq!(encode_key("a b/c+d"), "a%20b/c%2Bd");
    }
}
