//! `syncwright media info FILE...` on the committed fixtures (core/tests/data/media, made with Pillow and piexif in
//! each tool's layout): the JSON of each file, a file that is not an image, and a missing one (exit 1).

use serde_json::Value;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_syncwright");

#[test]
fn media_info_prints_each_file_s_metadata_as_json() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../core/tests/data/media");
    let dir = tempfile::tempdir().unwrap();
    let f = |n: &str| data.join(n).display().to_string();
    let out = Command::new(BIN)
        .env("SYNCWRIGHT_STATE_DIR", dir.path().join("state"))
        .args([
            "media",
            "info",
            &f("a1111.png"),
            &f("comfyui.png"),
            &f("none.png"),
            &f("gen_fixtures.py"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let all = v.as_array().unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0]["format"], "png");
    assert_eq!(all[0]["metadata"]["generator"], "a1111");
    assert!(all[0]["metadata"]["steps"].as_u64().is_some(), "{}", all[0]);
    assert_eq!(all[1]["metadata"]["generator"], "comfyui");
    assert!(all[1]["metadata"]["comfy_prompt"].is_object(), "{}", all[1]);
    assert_eq!((all[2]["format"].as_str(), all[2]["metadata"].is_null()), (Some("png"), true));
    assert_eq!((all[3]["format"].is_null(), all[3]["error"].is_null()), (true, true));

    let missing = dir.path().join("missing.png");
    let out = Command::new(BIN)
        .env("SYNCWRIGHT_STATE_DIR", dir.path().join("state"))
        .args(["media", "info", &f("a1111.jpg"), missing.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["metadata"]["generator"], "a1111");
    assert_eq!(v[1]["error"]["kind"], "not_found", "{v}");
    assert_eq!(Command::new(BIN).args(["media", "info"]).output().unwrap().status.code(), Some(2));
}
