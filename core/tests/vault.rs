//! The secrets vault: round trips, each kind of damage giving its own typed error (never a panic, never a wrong
//! value), inline backups, parameter upgrades, and writers that never lose each other's updates.

use std::path::Path;

use syncwright::ErrorKind;
use syncwright::vault::{KdfParams, Secret, Vault};

/// Small parameters: the tests derive many keys.
const FAST: KdfParams = KdfParams { m_kib: 64, t: 1, p: 1 };

fn pass() -> Secret {
    Secret::new("correct horse battery staple")
}

fn made(dir: &Path) -> (std::path::PathBuf, Vault) {
    let path = dir.join("pod.secrets.json");
    let mut v = Vault::create(&path, &pass(), FAST).unwrap();
    v.set(
        "cloud_sync.s3",
        serde_json::json!({"access_key_id": "AKIA1", "secret_access_key": "s3cr3t-value"}),
    )
    .unwrap();
    v.set("sftp.passphrase", serde_json::json!("hunter2")).unwrap();
    (path, v)
}

#[test]
fn set_get_list_delete_round_trip_through_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut v) = made(dir.path());
    let again = Vault::unlock(&path, &pass(), FAST, false).unwrap();
    assert_eq!(again.keys(), vec!["cloud_sync.s3", "sftp.passphrase"]);
    assert_eq!(again.get("sftp.passphrase").unwrap().unwrap().expose(), "hunter2");
    // Dotted keys reach into objects.
    assert_eq!(
        again.get("cloud_sync.s3.secret_access_key").unwrap().unwrap().expose(),
        "s3cr3t-value"
    );
    assert!(again.get("nope").unwrap().is_none());
    v.delete("sftp.passphrase").unwrap();
    assert_eq!(v.delete("sftp.passphrase").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(Vault::unlock(&path, &pass(), FAST, false).unwrap().keys(), vec!["cloud_sync.s3"]);
    assert_eq!(v.set("../x", serde_json::json!("v")).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(v.set("k", serde_json::json!(5)).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(Vault::create(&path, &pass(), FAST).unwrap_err().kind(), ErrorKind::Conflict);
    // No value in the file, in Debug or in a secret's Debug.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("s3cr3t-value") && !text.contains("AKIA1"));
    let shown = format!("{v:?} {:?}", v.get("cloud_sync.s3.secret_access_key").unwrap());
    assert!(!shown.contains("s3cr3t-value"), "{shown}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn a_wrong_passphrase_is_auth_and_a_missing_file_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _v) = made(dir.path());
    let e = Vault::unlock(&path, &Secret::new("Tr0ub4dor-guess"), FAST, false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(!format!("{e} {e:?}").contains("Tr0ub4dor"));
    let e = Vault::unlock(&dir.path().join("none.json"), &pass(), FAST, false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn a_truncated_file_is_corrupt_at_every_sixteenth() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _v) = made(dir.path());
    let whole = std::fs::read(&path).unwrap();
    for i in 0..16 {
        let cut = whole.len() * i / 16;
        std::fs::write(&path, &whole[..cut]).unwrap();
        let e = Vault::unlock(&path, &pass(), FAST, false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "cut at {cut}: {e}");
    }
}

#[test]
fn a_flipped_byte_anywhere_is_an_error_or_changes_nothing_never_a_wrong_value() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _v) = made(dir.path());
    let whole = std::fs::read(&path).unwrap();
    let text = String::from_utf8(whole.clone()).unwrap();
    let current_end = text.find("\"backups\"").unwrap();
    let mut corrupt = 0;
    // Every byte of the current envelope, and a sample of the backups'.
    let positions: Vec<usize> =
        (0..current_end).chain((current_end..whole.len()).step_by(7)).collect();
    for i in positions {
        let mut damaged = whole.clone();
        damaged[i] ^= 0x01;
        std::fs::write(&path, &damaged).unwrap();
        match Vault::unlock(&path, &pass(), FAST, false) {
            Ok(v) => {
                // Only a byte outside what the current envelope is (its backups, layout) may change nothing.
                assert_eq!(
                    v.get("sftp.passphrase").unwrap().unwrap().expose(),
                    "hunter2",
                    "flip at {i}"
                );
                assert_eq!(v.keys(), vec!["cloud_sync.s3", "sftp.passphrase"], "flip at {i}");
                assert!(
                    i >= current_end || text.as_bytes()[i].is_ascii_whitespace(),
                    "flip at {i} went unseen"
                );
            }
            Err(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::InvalidInput),
                    "flip at {i} ({:?}): {e}",
                    text.as_bytes()[i] as char
                );
                corrupt += 1;
            }
        }
    }
    assert!(corrupt > current_end / 2);
}

#[test]
fn an_unknown_version_is_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _v) = made(dir.path());
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["current"]["version"] = serde_json::json!(7);
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(
        Vault::unlock(&path, &pass(), FAST, false).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn a_damaged_current_envelope_opens_from_its_newest_intact_backup_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut v) = made(dir.path());
    v.set("third", serde_json::json!("3")).unwrap();
    let mut file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let c = file["current"]["ciphertext"].as_str().unwrap().to_string();
    file["current"]["ciphertext"] = serde_json::json!(format!("00{}", &c[2..]));
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    assert_eq!(Vault::unlock(&path, &pass(), FAST, false).unwrap_err().kind(), ErrorKind::Corrupt);
    let mut from_backup = Vault::unlock(&path, &pass(), FAST, true).unwrap();
    assert_eq!(from_backup.recovered_from_backup(), Some(0));
    // The newest backup is the vault before its last write.
    assert_eq!(from_backup.keys(), vec!["cloud_sync.s3", "sftp.passphrase"]);
    from_backup.restore_backup().unwrap();
    let again = Vault::unlock(&path, &pass(), FAST, false).unwrap();
    assert_eq!(again.recovered_from_backup(), None);
    assert_eq!(again.keys(), vec!["cloud_sync.s3", "sftp.passphrase"]);
    // At most five backups are kept.
    let mut w = again;
    for i in 0..8 {
        w.set(&format!("k{i}"), serde_json::json!("v")).unwrap();
    }
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(file["backups"].as_array().unwrap().len(), 5);
}

#[test]
fn changing_the_passphrase_re_encrypts_and_weaker_parameters_are_upgraded_on_write() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut v) = made(dir.path());
    let new = Secret::new("another passphrase");
    v.change_passphrase(&new).unwrap();
    assert_eq!(Vault::unlock(&path, &pass(), FAST, false).unwrap_err().kind(), ErrorKind::Auth);
    let stronger = KdfParams { m_kib: 256, t: 2, p: 1 };
    let mut w = Vault::unlock(&path, &new, stronger, false).unwrap();
    assert_eq!(w.get("sftp.passphrase").unwrap().unwrap().expose(), "hunter2");
    w.set("x", serde_json::json!("y")).unwrap();
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(file["current"]["kdf"]["m_kib"], 256);
    assert_eq!(file["current"]["kdf"]["t"], 2);
    assert_eq!(Vault::unlock(&path, &new, stronger, false).unwrap().keys().len(), 3);
}

#[test]
fn two_writers_at_once_lose_neither_update() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _v) = made(dir.path());
    std::thread::scope(|s| {
        for w in 0..2 {
            let path = &path;
            s.spawn(move || {
                // Each writer has its own unlocked copy, as two processes would.
                let mut v = Vault::unlock(path, &pass(), FAST, false).unwrap();
                for i in 0..15 {
                    v.set(&format!("w{w}.k{i}"), serde_json::json!(format!("{w}-{i}"))).unwrap();
                }
            });
        }
    });
    let v = Vault::unlock(&path, &pass(), FAST, false).unwrap();
    assert_eq!(v.keys().len(), 2 + 30);
    assert_eq!(v.get("w1.k14").unwrap().unwrap().expose(), "1-14");
}

#[test]
fn the_default_parameters_are_rfc_9106_second_recommendation() {
    assert_eq!(KdfParams::default(), KdfParams { m_kib: 65536, t: 3, p: 4 });
}
