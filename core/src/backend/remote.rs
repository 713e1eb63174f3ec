//! Where remote trees are and how to reach them: locations given by users (`sftp://`, `s3://`, `gdrive://`), the
//! options of each service, and secrets that never reach a log line.
//!
//! Options are part of [`crate::SyncOptions`] (`remote.sftp`, `remote.s3`, `remote.gdrive`) so that profiles and
//! every front door set them the same way. Secret values are [`Secret`]s: their `Debug` is `[redacted]` and they
//! are never serialised (a stored operation that is retried after a restart takes them from the environment again).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A secret value (passphrase, key, token): shown as `[redacted]`, never serialised.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_none()
    }
}

/// How to reach remote trees; each service reads its own section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteOptions {
    /// SSH/SFTP hosts.
    pub sftp: SftpOptions,
    /// S3 and S3-compatible object stores.
    pub s3: S3Options,
    /// Google Drive.
    pub gdrive: GdriveOptions,
}

/// SSH/SFTP options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SftpOptions {
    /// Private key file. Without it (and with `agent`), the keys of a running ssh-agent are tried.
    pub key_file: Option<PathBuf>,
    /// Passphrase of the key file (else `SYNCWRIGHT_SSH_PASSPHRASE` from the environment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<Secret>,
    /// Try the keys of ssh-agent (`SSH_AUTH_SOCK`) when no key file is given or it is refused.
    pub agent: bool,
    /// known_hosts file the host key must be in (default `~/.ssh/known_hosts`).
    pub known_hosts: Option<PathBuf>,
    /// Accept any host key. Never the default; every connection then logs a warning.
    pub insecure_ignore_host_key: bool,
    /// SSH sessions opened for parallel transfers (at most; opened on demand).
    pub sessions: usize,
    /// Seconds to wait for a connection and for each reply.
    pub timeout_secs: u64,
    /// A key of the secrets vault holding `{passphrase?, private_key?}` (see [`crate::vault`]); the engine reads
    /// it when a run starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_key: Option<String>,
    /// A private key (PEM or OpenSSH text) held in memory, from the vault's `private_key`; tried before
    /// `key_file`. Never read from a config or serialised.
    #[serde(skip)]
    pub private_key: Option<Secret>,
}

impl Default for SftpOptions {
    fn default() -> Self {
        SftpOptions {
            key_file: None,
            passphrase: None,
            agent: true,
            known_hosts: None,
            insecure_ignore_host_key: false,
            sessions: 4,
            timeout_secs: 30,
            credentials_key: None,
            private_key: None,
        }
    }
}

/// S3 options. Keys come from `access_key_id`/`secret_access_key` or else the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Options {
    /// Region (default `AWS_REGION`, else `us-east-1`).
    pub region: Option<String>,
    /// Endpoint of an S3-compatible server (`http://127.0.0.1:9000`); http is allowed only when given here.
    pub endpoint_url: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), as most S3-compatible servers need; default true when an
    /// endpoint is given.
    pub path_style: Option<bool>,
    /// Access key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<Secret>,
    /// Secret access key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<Secret>,
    /// Session token of temporary credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<Secret>,
    /// Files at least this large are uploaded in parts.
    pub multipart_threshold: u64,
    /// Size of each part (at least 5 MiB, as S3 requires).
    pub part_size: u64,
    /// Parts of one file uploaded at once.
    pub part_concurrency: usize,
    /// Unfinished multipart uploads older than this many hours are aborted.
    pub stale_upload_hours: u64,
    /// A key of the secrets vault holding `{access_key_id, secret_access_key, session_token?}` (document 3's
    /// `cloud_sync.s3`; see [`crate::vault`]); the engine reads it when a run starts, over the keys above.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_key: Option<String>,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            region: None,
            endpoint_url: None,
            path_style: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            multipart_threshold: 64 << 20,
            part_size: 16 << 20,
            part_concurrency: 4,
            stale_upload_hours: 24,
            credentials_key: None,
        }
    }
}

/// Google Drive options (see [`crate::backend::gdrive`] for what is stored where).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GdriveOptions {
    /// The service account's JSON key file (else `GOOGLE_APPLICATION_CREDENTIALS` from the environment). Its
    /// `token_uri` is where tokens come from.
    pub credentials: Option<PathBuf>,
    /// Folder that holds the manifests (`manifest_parent_id`); default: the files' folder.
    pub manifest_parent_id: Option<String>,
    /// OAuth scopes (default `https://www.googleapis.com/auth/drive.file`).
    pub scopes: Vec<String>,
    /// Base URL of the API (tests point it at a local server; http only on the loopback interface); default
    /// `https://www.googleapis.com`.
    pub api_base: Option<String>,
    /// Files at least this large are uploaded through a resumable session in chunks of this size (rounded down
    /// to a multiple of 256 KiB, as Drive requires); smaller ones in one request.
    pub chunk_size: u64,
    /// A key of the secrets vault whose `credentials` holds the service account's JSON (document 3's
    /// `cloud_sync.gdrive`, read at `cloud_sync.gdrive.credentials`; see [`crate::vault`]); the engine reads it
    /// when a run starts, over `credentials`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_key: Option<String>,
    /// The service account's JSON held in memory, from the vault. Never read from a config or serialised.
    #[serde(skip)]
    pub credentials_json: Option<Secret>,
}

impl Default for GdriveOptions {
    fn default() -> Self {
        GdriveOptions {
            credentials: None,
            manifest_parent_id: None,
            scopes: vec!["https://www.googleapis.com/auth/drive.file".into()],
            api_base: None,
            chunk_size: 8 << 20,
            credentials_key: None,
            credentials_json: None,
        }
    }
}

/// A location given by a user, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local folder (a plain path or `file://`).
    Local(PathBuf),
    /// `sftp://[USER@]HOST[:PORT]/ABS/PATH`.
    Sftp(SftpLocation),
    /// `s3://BUCKET[/PREFIX]`.
    S3(S3Location),
    /// `gdrive://FOLDER_ID`.
    Gdrive(GdriveLocation),
}

/// An SFTP location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpLocation {
    /// Login name (default: `USER` from the environment, else `root`).
    pub user: String,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (default 22).
    pub port: u16,
    /// Absolute path of the root on the host.
    pub path: String,
}

impl std::fmt::Display for SftpLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host =
            if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        write!(f, "sftp://{}@{}:{}{}", self.user, host, self.port, self.path)
    }
}

/// An S3 location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// Bucket.
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// A Google Drive location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GdriveLocation {
    /// The id of the folder that holds the files (`parent_id`).
    pub folder_id: String,
}

impl std::fmt::Display for GdriveLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "gdrive://{}", self.folder_id)
    }
}

fn bad(loc: &str, why: &str) -> Error {
    Error::invalid(format!("bad location {loc:?}: {why}"))
}

impl Location {
    /// Parses a location. Passwords in URLs are refused (use a key file or ssh-agent) so that they never reach a
    /// report or a log line.
    pub fn parse(loc: &str) -> Result<Location> {
        if let Some(path) = loc.strip_prefix("file://") {
            return Ok(Location::Local(PathBuf::from(path)));
        }
        let Some((scheme, rest)) = loc.split_once("://").filter(|(s, _)| {
            !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '+')
        }) else {
            return Ok(Location::Local(PathBuf::from(loc)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sftp" | "ssh" => Self::parse_sftp(loc, rest).map(Location::Sftp),
            "s3" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let valid_bucket = (3..=63).contains(&bucket.len())
                    && bucket.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
                    });
                if !valid_bucket {
                    return Err(bad(
                        loc,
                        "bucket names have 3-63 lowercase letters, digits, '-' or '.'",
                    ));
                }
                let prefix = prefix.trim_matches('/');
                if prefix.split('/').any(|s| s == "." || s == "..")
                    || (!prefix.is_empty() && prefix.split('/').any(str::is_empty))
                {
                    return Err(bad(loc, "the prefix has an empty, '.' or '..' segment"));
                }
                Ok(Location::S3(S3Location { bucket: bucket.into(), prefix: prefix.into() }))
            }
            "gdrive" => {
                let id = rest.trim_end_matches('/');
                if id.is_empty()
                    || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(bad(loc, "expected gdrive://FOLDER_ID"));
                }
                Ok(Location::Gdrive(GdriveLocation { folder_id: id.into() }))
            }
            other => Err(bad(
                loc,
                &format!(
                    "unknown scheme {other}:// (supported: paths, file://, sftp://, s3://, gdrive://)"
                ),
            )),
        }
    }

    fn parse_sftp(loc: &str, rest: &str) -> Result<SftpLocation> {
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => return Err(bad(loc, "expected sftp://USER@HOST:PORT/ABS/PATH")),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if userinfo.is_some_and(|u| u.contains(':')) {
            return Err(bad(
                "sftp://…",
                "passwords in URLs are not accepted: use --ssh-key or ssh-agent",
            ));
        }
        let user = match userinfo {
            Some(u) if !u.is_empty() => u.to_string(),
            _ => std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or("root".into()),
        };
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let (h, after) = h.split_once(']').ok_or_else(|| bad(loc, "unclosed '[' in host"))?;
            (h, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        let port = match port {
            Some(p) => {
                p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| bad(loc, "bad port"))?
            }
            None => 22,
        };
        if host.is_empty() {
            return Err(bad(loc, "no host"));
        }
        let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
        if path.split('/').any(|s| s == "..") {
            return Err(bad(loc, "'..' in the path"));
        }
        Ok(SftpLocation { user, host: host.into(), port, path: path.into() })
    }

    /// The service name (`local`, `sftp`, `s3`, `gdrive`).
    pub fn scheme(&self) -> &'static str {
        match self {
            Location::Local(_) => "local",
            Location::Sftp(_) => "sftp",
            Location::S3(_) => "s3",
            Location::Gdrive(_) => "gdrive",
        }
    }
}

#[cfg(test)]
impl Location {
    fn to_string_lossy(&self) -> String {
        match self {
            Location::Local(p) => p.display().to_string(),
            Location::Sftp(s) => s.to_string(),
            Location::S3(s) => s.to_string(),
            Location::Gdrive(g) => g.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        assert_eq!(Location::parse("/data/x").unwrap(), Location::Local("/data/x".into()));
        assert_eq!(Location::parse("rel/x").unwrap(), Location::Local("rel/x".into()));
        assert_eq!(Location::parse("file:///data").unwrap(), Location::Local("/data".into()));
        let Location::Sftp(s) = Location::parse("sftp://ann@gpu-1:2222/workspace/out/").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (s.user.as_str(), s.host.as_str(), s.port, s.path.as_str()),
            ("ann", "gpu-1", 2222, "/workspace/out")
        );
        assert_eq!(s.to_string(), "sftp://ann@gpu-1:2222/workspace/out");
        let Location::Sftp(s) = Location::parse("sftp://bo@[::1]:22/").unwrap() else { panic!() };
        assert_eq!((s.host.as_str(), s.path.as_str()), ("::1", "/"));
        assert_eq!(s.to_string(), "sftp://bo@[::1]:22/");
        let e = Location::parse("sftp://ann:hunter2@h/x").unwrap_err();
        assert!(!e.message().contains("hunter2"), "{}", e.message());
        assert!(Location::parse("sftp://h").is_err());
        assert!(Location::parse("sftp://h:0/x").is_err());
        assert!(Location::parse("sftp://h/a/../b").is_err());
        assert_eq!(
            Location::parse("s3://my-bucket/dev/assets/").unwrap(),
            Location::S3(S3Location { bucket: "my-bucket".into(), prefix: "dev/assets".into() })
        );
        assert_eq!(Location::parse("s3://bkt").unwrap().to_string_lossy(), "s3://bkt");
        assert!(Location::parse("s3://B").is_err());
        assert!(Location::parse("s3://bkt/a//b").is_err());
        assert_eq!(
            Location::parse("gdrive://1AbC_d-e").unwrap(),
            Location::Gdrive(GdriveLocation { folder_id: "1AbC_d-e".into() })
        );
        assert!(Location::parse("gdrive://").is_err());
        assert!(Location::parse("ftp://x/y").is_err());
    }

    #[test]
    fn secrets_stay_hidden() {
        let mut o = RemoteOptions::default();
        o.sftp.passphrase = Some(Secret::new("hunter2"));
        o.s3.secret_access_key = Some(Secret::new("AKIAsecret"));
        let dbg = format!("{o:?}");
        assert!(!dbg.contains("hunter2") && !dbg.contains("AKIAsecret"), "{dbg}");
        let json = serde_json::to_string(&o).unwrap();
        assert!(!json.contains("hunter2") && !json.contains("AKIAsecret"), "{json}");
        let back: RemoteOptions = serde_json::from_str(
            r#"{"sftp": {"passphrase": "pw"}, "s3": {"region": "eu-west-1"}}"#,
        )
        .unwrap();
        assert_eq!(back.sftp.passphrase.unwrap().expose(), "pw");
        assert!(serde_json::from_str::<RemoteOptions>(r#"{"sftp": {"keyfile": "x"}}"#).is_err());
    }
}
