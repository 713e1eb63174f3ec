//! The vault and cloud-sync calls of the C ABI, in process: every call on a real vault file, passphrases given or
//! from the engine's held vault, NULL and bad arguments, and the feature flags of the cloud-sync calls.

mod common;

use common::{cstr, ok, take_err};
use std::ffi::{CStr, c_char};
use std::ptr::{null, null_mut};
use syncwright_ffi::*;

/// Takes a string the library gave, freeing it.
fn take(s: *mut c_char) -> String {
    assert!(!s.is_null(), "no string");
    let t = unsafe { CStr::from_ptr(s) }.to_str().unwrap().to_string();
    unsafe { sw_string_free(s) };
    t
}

fn json(s: *mut c_char) -> serde_json::Value {
    serde_json::from_str(&take(s)).unwrap()
}

struct Engine(*mut sw_engine);

impl Drop for Engine {
    fn drop(&mut self) {
        unsafe { sw_engine_free(self.0) };
    }
}

fn open(dir: &std::path::Path, flags: bool) -> Engine {
    let cfg = serde_json::json!({
        "state_dir": dir.join("state"),
        "config": {
            "settings": {"vault": dir.join("v.json"), "vault_kdf": {"m_kib": 64, "t": 1, "p": 1}},
            "features": {"enable_cloud_sync": flags, "enable_cloud_sync_s3": flags},
            "cloud_sync": {"root": dir.join("proj")},
        },
    });
    let mut e = null_mut();
    ok(unsafe { sw_engine_new(cstr(&cfg.to_string()).as_ptr(), &mut e) });
    Engine(e)
}

#[test]
fn vault_calls_from_c() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("proj/assets")).unwrap();
    std::fs::write(dir.path().join("proj/assets/a.txt"), b"a").unwrap();
    let e = open(dir.path(), false);
    let pass = cstr("c passphrase");
    let mut out = null_mut();

    ok(unsafe { sw_vault_status(e.0, &mut out) });
    let st = json(out);
    assert_eq!((st["exists"].as_bool(), st["unlocked"].as_bool()), (Some(false), Some(false)));
    ok(unsafe { sw_vault_init(e.0, pass.as_ptr(), &mut out) });
    assert_eq!(json(out)["unlocked"], true);
    // The held vault serves calls without a passphrase.
    let value = cstr(r#"{"access_key_id":"AKID","secret_access_key":"c-secret-0001"}"#);
    ok(unsafe {
        sw_vault_set(e.0, cstr("cloud_sync.s3").as_ptr(), value.as_ptr(), null(), &mut out)
    });
    assert_eq!(json(out), serde_json::json!(["cloud_sync.s3"]));
    ok(unsafe {
        sw_vault_set(e.0, cstr("plain").as_ptr(), cstr("\"v\"").as_ptr(), null(), &mut out)
    });
    take(out);
    ok(unsafe {
        sw_vault_get(e.0, cstr("cloud_sync.s3.secret_access_key").as_ptr(), null(), &mut out)
    });
    assert_eq!(
        json(out),
        serde_json::json!({"key": "cloud_sync.s3.secret_access_key", "value": "c-secret-0001"})
    );
    ok(unsafe { sw_vault_keys(e.0, null(), &mut out) });
    assert_eq!(json(out), serde_json::json!(["cloud_sync.s3", "plain"]));
    ok(unsafe { sw_vault_delete(e.0, cstr("plain").as_ptr(), null(), &mut out) });
    take(out);

    // Errors: each with its kind, out-parameters cleared, no value in a message.
    let mut garbage = std::ptr::dangling_mut::<c_char>();
    let err = take_err(unsafe { sw_vault_get(e.0, cstr("plain").as_ptr(), null(), &mut garbage) });
    assert_eq!(err.unwrap().0, "not_found");
    assert!(garbage.is_null(), "the out-parameter is cleared");
    let wrong = cstr("wrong passphrase");
    let err = take_err(unsafe { sw_vault_unlock(e.0, wrong.as_ptr(), &mut out) }).unwrap();
    assert_eq!(err.0, "auth", "{err:?}");
    let bad = cstr("not json");
    let err =
        take_err(unsafe { sw_vault_set(e.0, cstr("k").as_ptr(), bad.as_ptr(), null(), &mut out) })
            .unwrap();
    assert_eq!(err.0, "invalid_input");
    assert!(!err.1.contains("not json"), "the value is never quoted: {err:?}");
    let err = take_err(unsafe {
        sw_vault_set(e.0, cstr("bad key!").as_ptr(), cstr("\"v\"").as_ptr(), null(), &mut out)
    });
    assert_eq!(err.unwrap().0, "invalid_input");
    for err in [
        unsafe { sw_vault_get(e.0, null(), null(), &mut out) },
        unsafe { sw_vault_keys(null_mut(), null(), &mut out) },
        unsafe { sw_vault_status(e.0, null_mut()) },
        unsafe { sw_vault_import_rclone(e.0, null(), null(), null(), &mut out) },
        unsafe { sw_cloud_dry_run(e.0, null(), &mut out) },
    ] {
        assert_eq!(take_err(err).unwrap().0, "invalid_input");
    }

    // A new passphrase; the old one no longer opens it; an intact vault has nothing to restore.
    let new = cstr("new c passphrase");
    ok(unsafe { sw_vault_change_passphrase(e.0, new.as_ptr(), null(), &mut out) });
    take(out);
    ok(unsafe { sw_vault_lock(e.0, &mut out) });
    assert_eq!(json(out)["unlocked"], false);
    let err = take_err(unsafe { sw_vault_keys(e.0, pass.as_ptr(), &mut out) }).unwrap();
    assert_eq!(err.0, "auth");
    ok(unsafe { sw_vault_restore_backup(e.0, new.as_ptr(), &mut out) });
    assert_eq!(json(out), serde_json::json!({"restored": false, "backup": null}));

    // rclone.conf: the S3 section is imported, the OAuth one is reported.
    let conf = dir.path().join("rclone.conf");
    std::fs::write(
        &conf,
        "[aws]\ntype = s3\naccess_key_id = AK\nsecret_access_key = rclone-secret\n[gd]\ntype = drive\ntoken = {}\n",
    )
    .unwrap();
    let conf_c = cstr(conf.to_str().unwrap());
    ok(unsafe { sw_vault_import_rclone(e.0, conf_c.as_ptr(), null(), null(), &mut out) });
    let r = take(out);
    assert!(!r.contains("rclone-secret"), "{r}");
    let r: serde_json::Value = serde_json::from_str(&r).unwrap();
    assert_eq!(r["imported"][0]["key"], "rclone.aws");
    assert_eq!(r["not_imported"][0]["section"], "gd");
    ok(unsafe {
        sw_vault_get(e.0, cstr("rclone.aws.secret_access_key").as_ptr(), null(), &mut out)
    });
    assert_eq!(json(out)["value"], "rclone-secret");

    // The cloud-sync calls follow the flags.
    let req = cstr(r#"{"service":"s3","service_config":{"bucket":"b"}}"#);
    let err = take_err(unsafe { sw_cloud_dry_run(e.0, req.as_ptr(), &mut out) }).unwrap();
    assert_eq!(err.0, "feature_disabled", "{err:?}");
    let err = take_err(unsafe { sw_cloud_manifest(e.0, null(), null(), &mut out) }).unwrap();
    assert_eq!(err.0, "feature_disabled");
    drop(e);
    let on = open(dir.path(), true);
    let include = cstr(r#"["assets"]"#);
    ok(unsafe { sw_cloud_manifest(on.0, cstr("nightly").as_ptr(), include.as_ptr(), &mut out) });
    let m = json(out);
    assert_eq!(
        (m["manifest"]["entries"].as_u64(), m["manifest"]["name"].as_str()),
        (Some(1), Some("nightly"))
    );
    let endpoint =
        cstr(r#"{"service":"s3","service_config":{"bucket":"b","endpoint_url":"http://x"}}"#);
    let err = take_err(unsafe { sw_cloud_run(on.0, endpoint.as_ptr(), &mut out) }).unwrap();
    assert_eq!(err.0, "invalid_input", "endpoints never come from a request: {err:?}");
}
