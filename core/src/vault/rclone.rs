//! Import of an unencrypted `rclone.conf`: the sections syncwright can use become vault entries (one shape per
//! service, see [`crate::vault`]) and profile stubs; every other section is reported with the reason it was left.
//!
//! Imported: `s3` sections with `access_key_id` and `secret_access_key` (`endpoint`, `region` go to the stub);
//! `drive` sections with `service_account_file` or `service_account_credentials`; `sftp` sections with
//! `key_file` (or `key_pem`). Not imported: OAuth `token`s, obscured passwords (`pass`, `key_file_pass`), `env_auth`
//! without keys, other backends and encrypted configs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::SecretValue;
use crate::error::{Error, Result};

/// The default vault prefix of imported entries (`rclone.<section>`).
pub const DEFAULT_PREFIX: &str = "rclone";

/// A section of rclone.conf: its name and its `key = value` lines in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The remote's name (`[name]`).
    pub name: String,
    /// Its keys and values.
    pub values: BTreeMap<String, String>,
}

/// One section that was imported: where its secret went and a profile that uses it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Imported {
    /// The rclone remote's name.
    pub section: String,
    /// Its rclone type (`s3`, `drive`, `sftp`).
    pub service: String,
    /// The vault key the credentials were stored under.
    pub key: String,
    /// A profile using them, as a config document's profile (`destination` has a placeholder to fill in).
    pub profile: serde_json::Value,
    /// The same profile as TOML, to paste into a config file.
    pub profile_toml: String,
    /// What the import could not carry over (an obscured key passphrase), if anything.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One section that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The rclone remote's name.
    pub section: String,
    /// Its rclone type, when it has one.
    pub service: Option<String>,
    /// Why it was left.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RcloneImport {
    /// The file read.
    pub source: String,
    /// The sections stored in the vault.
    pub imported: Vec<Imported>,
    /// The sections left, with reasons.
    pub not_imported: Vec<Skipped>,
}

/// What [`plan`] gives: the vault entries to write, and the report.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    /// Vault key and value of each imported section.
    pub entries: Vec<(String, SecretValue)>,
    /// The report.
    pub report: RcloneImport,
}

/// Parses rclone.conf text into sections. `invalid_input` for an encrypted config or a line that is neither a
/// section, a `key = value`, a comment nor blank (its number is given, never its text: it may hold a secret).
pub fn parse(text: &str) -> Result<Vec<Section>> {
    let mut out: Vec<Section> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with("RCLONE_ENCRYPT_V0:") {
            return Err(Error::invalid(
                "this rclone.conf is encrypted: decrypt it with `rclone config show` first",
            ));
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            if name.is_empty() {
                return Err(Error::invalid(format!(
                    "rclone.conf line {}: an empty section name",
                    i + 1
                )));
            }
            out.push(Section { name: name.to_string(), values: BTreeMap::new() });
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(Error::invalid(format!(
                "rclone.conf line {}: neither [section] nor key = value",
                i + 1
            )));
        };
        let Some(section) = out.last_mut() else {
            return Err(Error::invalid(format!(
                "rclone.conf line {}: a key before the first [section]",
                i + 1
            )));
        };
        section.values.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// A section name as a vault key part and a profile name: letters, digits, `_` and `-` (others become `_`).
fn safe_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .take(64)
        .collect();
    if s.is_empty() { "remote".into() } else { s }
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// A file named by the conf, read (relative names are taken from the conf's folder).
fn read_named(conf_dir: &Path, p: &str, what: &str) -> std::result::Result<String, String> {
    let path = expand_home(p);
    let path = if path.is_absolute() { path } else { conf_dir.join(path) };
    std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read its {what} {}: {e}", path.display()))
}

fn toml_of(name: &str, profile: &serde_json::Value) -> String {
    let mut doc = toml::Table::new();
    let mut profiles = toml::Table::new();
    if let Ok(v) = toml::Value::try_from(profile) {
        profiles.insert(name.to_string(), v);
    }
    doc.insert("profiles".into(), toml::Value::Table(profiles));
    toml::to_string(&doc).unwrap_or_default()
}

/// Plans the import of `sections` (read from a file in `conf_dir`) under vault keys `<prefix>.<section>`.
pub fn plan(sections: &[Section], conf_dir: &Path, prefix: &str, source: &str) -> ImportPlan {
    let mut entries = Vec::new();
    let mut imported = Vec::new();
    let mut not_imported = Vec::new();
    for s in sections {
        let service = s.values.get("type").cloned();
        let skip =
            |reason: String| Skipped { section: s.name.clone(), service: service.clone(), reason };
        let name = safe_name(&s.name);
        let key = format!("{prefix}.{name}");
        let get = |k: &str| s.values.get(k).filter(|v| !v.is_empty());
        let mut notes = Vec::new();
        let made: std::result::Result<(String, SecretValue, serde_json::Value), String> =
            match service.as_deref() {
                Some("s3") => match (get("access_key_id"), get("secret_access_key")) {
                    (Some(id), Some(secret)) => {
                        let mut v = serde_json::json!({
                            "access_key_id": id,
                            "secret_access_key": secret,
                        });
                        if let Some(t) = get("session_token") {
                            v["session_token"] = t.clone().into();
                        }
                        let mut s3 = serde_json::json!({ "credentials_key": key });
                        if let Some(e) = get("endpoint") {
                            s3["endpoint_url"] = e.clone().into();
                        }
                        if let Some(r) = get("region") {
                            s3["region"] = r.clone().into();
                        }
                        let profile = serde_json::json!({
                            "source": "/path/to/local/folder",
                            "destination": "s3://BUCKET/prefix",
                            "remote": { "s3": s3 },
                        });
                        Ok((key.clone(), v, profile))
                    }
                    _ if s.values.get("env_auth").is_some_and(|v| v == "true") => Err(
                        "env_auth without access keys: the keys come from the environment, nothing to store"
                            .into(),
                    ),
                    _ => Err("no access_key_id and secret_access_key".into()),
                },
                Some("drive") => {
                    let creds = match (
                        get("service_account_credentials"),
                        get("service_account_file"),
                    ) {
                        (Some(json), _) => Ok(json.clone()),
                        (None, Some(file)) => read_named(conf_dir, file, "service_account_file"),
                        (None, None) if get("token").is_some() => Err(
                            "an OAuth token: syncwright's Drive backend signs in with a service account".into(),
                        ),
                        (None, None) => Err("no service_account_file or service_account_credentials".into()),
                    };
                    creds.and_then(|text| {
                        let account: serde_json::Value = serde_json::from_str(&text)
                            .map_err(|_| "its service account credentials are not JSON".to_string())?;
                        if account.get("type").and_then(|t| t.as_str()) != Some("service_account") {
                            return Err("its credentials are not a service account's key".into());
                        }
                        let folder = get("root_folder_id").cloned().unwrap_or_else(|| "FOLDER_ID".into());
                        let profile = serde_json::json!({
                            "source": "/path/to/local/folder",
                            "destination": format!("gdrive://{folder}"),
                            "remote": { "gdrive": { "credentials_key": key } },
                        });
                        Ok((key.clone(), serde_json::json!({ "credentials": account }), profile))
                    })
                }
                Some("sftp") => {
                    let pem = match (get("key_pem"), get("key_file")) {
                        // rclone writes key_pem on one line with \n escapes.
                        (Some(pem), _) => Ok(pem.replace("\\n", "\n")),
                        (None, Some(file)) => read_named(conf_dir, file, "key_file"),
                        (None, None) if get("pass").is_some() => Err(
                            "an obscured password: syncwright signs in to SSH hosts with keys only".into(),
                        ),
                        (None, None) => Err("no key_file (keys of ssh-agent need nothing stored)".into()),
                    };
                    pem.map(|pem| {
                        if get("key_file_pass").is_some() {
                            notes.push(
                                "key_file_pass is obscured and was not imported: set the key's passphrase \
                                 in the vault entry's `passphrase`"
                                    .to_string(),
                            );
                        }
                        let host = get("host").cloned().unwrap_or_else(|| "HOST".into());
                        let user = get("user").cloned().unwrap_or_else(|| "USER".into());
                        let port = get("port").cloned().unwrap_or_else(|| "22".into());
                        let profile = serde_json::json!({
                            "source": "/path/to/local/folder",
                            "destination": format!("sftp://{user}@{host}:{port}/path"),
                            "remote": { "sftp": { "credentials_key": key } },
                        });
                        (key.clone(), serde_json::json!({ "private_key": pem }), profile)
                    })
                }
                Some(other) => Err(format!("type {other}: syncwright has no such backend")),
                None => Err("no type".into()),
            };
        match made {
            Ok((key, value, profile)) => {
                entries.push((key.clone(), value));
                imported.push(Imported {
                    section: s.name.clone(),
                    service: service.clone().unwrap_or_default(),
                    key,
                    profile_toml: toml_of(&name, &profile),
                    profile,
                    notes,
                });
            }
            Err(reason) => not_imported.push(skip(reason)),
        }
    }
    ImportPlan {
        entries,
        report: RcloneImport { source: source.to_string(), imported, not_imported },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_imported_or_skipped_with_reasons() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("id_test"), "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n")
            .unwrap();
        let sa = r#"{"type":"service_account","client_email":"a@b","private_key":"k"}"#;
        std::fs::write(dir.path().join("sa.json"), sa).unwrap();
        let conf = "# comment\n[aws]\ntype = s3\naccess_key_id = AKID\nsecret_access_key = SEKRET\nregion = eu-west-1\n\
                    [env]\ntype = s3\nenv_auth = true\n\
                    [gd]\ntype = drive\nservice_account_file = sa.json\n\
                    [oauth]\ntype = drive\ntoken = {\"access_token\":\"x\"}\n\
                    [nas]\ntype = sftp\nhost = nas\nuser = me\nkey_file = id_test\nkey_file_pass = obscured\n\
                    [pw]\ntype = sftp\nhost = h\npass = obscured\n\
                    [b2]\ntype = b2\n";
        let sections = parse(conf).unwrap();
        let p = plan(&sections, dir.path(), DEFAULT_PREFIX, "rclone.conf");
        let keys: Vec<&str> = p.entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["rclone.aws", "rclone.gd", "rclone.nas"]);
        assert_eq!(p.entries[0].1["secret_access_key"], "SEKRET");
        assert_eq!(p.entries[1].1["credentials"]["client_email"], "a@b");
        assert!(p.entries[2].1["private_key"].as_str().unwrap().starts_with("-----BEGIN"));
        assert_eq!(p.report.imported[0].profile["remote"]["s3"]["region"], "eu-west-1");
        assert!(p.report.imported[0].profile_toml.contains("credentials_key = \"rclone.aws\""));
        assert_eq!(p.report.imported[2].notes.len(), 1);
        let skipped: Vec<(&str, &str)> = p
            .report
            .not_imported
            .iter()
            .map(|s| (s.section.as_str(), s.reason.split(':').next().unwrap()))
            .collect();
        assert_eq!(skipped.len(), 4, "{skipped:?}");
        assert!(p.report.not_imported[1].reason.contains("OAuth"));
        assert!(p.report.not_imported[2].reason.contains("obscured password"));
        // No secret in the report.
        let report = serde_json::to_string(&p.report).unwrap();
        assert!(!report.contains("SEKRET") && !report.contains("BEGIN"));
    }

    #[test]
    fn bad_lines_are_named_by_number_never_by_text() {
        let e = parse("[a]\ntype = s3\nsecret-without-equals\n").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert!(e.message().contains("line 3") && !e.message().contains("secret-without"));
        assert!(parse("k = v\n").is_err());
        assert!(parse("RCLONE_ENCRYPT_V0:\nabc").unwrap_err().message().contains("encrypted"));
    }
}
