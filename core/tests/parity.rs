//! The parity list (docs/parity.toml) against the code: every public call of the front door is in it, and every
//! counterpart it names exists in the C header, the Python package and the Node package.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The public methods of `impl Engine` / `impl EngineCore` blocks in core/src/engine/*.rs.
fn front_door_calls() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let dir = repo().join("core/src/engine");
    for f in std::fs::read_dir(&dir).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let mut inside = false;
        for line in text.lines() {
            if line.starts_with("impl Engine {") || line.starts_with("impl EngineCore {") {
                inside = true;
            } else if line.starts_with('}') {
                inside = false;
            } else if inside && let Some(rest) = line.strip_prefix("    pub fn ") {
                let name: String =
                    rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                out.insert(name, p.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// Whether `class`'s method `method` (or the class itself when `method` is empty) appears in `text`.
fn has_method(text: &str, class_marker: &str, method: &str) -> bool {
    let Some(start) = text.find(class_marker) else { return false };
    if method.is_empty() {
        return true;
    }
    let body = &text[start..];
    let end = body[1..]
        .find("\nclass ")
        .or_else(|| body[1..].find("\nexport declare class "))
        .map(|i| i + 1);
    let body = &body[..end.unwrap_or(body.len())];
    body.contains(&format!(" {method}(")) || body.contains(&format!("def {method}("))
}

#[test]
fn every_public_call_is_in_the_parity_list_and_every_counterpart_exists() {
    let list: toml::Table = read("docs/parity.toml").parse().expect("docs/parity.toml parses");
    let calls = list["calls"].as_table().expect("[calls]");
    let header = read("include/syncwright.h");
    let python = read("bindings-python/python/syncwright/_engine.py");
    let python_package = read("bindings-python/python/syncwright/__init__.py");
    let node = read("bindings-node/index.d.ts");
    let mut problems = Vec::new();

    for (name, file) in front_door_calls() {
        if !calls.contains_key(&name) {
            problems.push(format!("{name} (core/src/engine/{file}) is not in docs/parity.toml"));
        }
    }
    let found = front_door_calls();
    let mut entries: Vec<(String, &toml::Table)> = Vec::new();
    for (name, v) in calls {
        if !found.contains_key(name) {
            problems.push(format!("docs/parity.toml names {name}, which is not a public call"));
        }
        entries.push((name.clone(), v.as_table().expect("a table")));
    }
    if let Some(r) = list.get("renderings").and_then(|r| r.as_table()) {
        for (name, v) in r {
            entries.push((name.clone(), v.as_table().expect("a table")));
        }
    }
    for (name, e) in entries {
        if let Some(why) = e.get("rust_only") {
            assert!(
                why.as_str().is_some_and(|w| !w.is_empty()),
                "{name}: rust_only needs a reason"
            );
            continue;
        }
        let get = |k: &str| e.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
        let c = get("c");
        if c.is_empty() || c == "pending" {
            problems.push(format!("{name}: no C counterpart (C ones may not be pending)"));
        } else if !header.contains(&format!(" {c}(")) && !header.contains(&format!("*{c}(")) {
            problems.push(format!("{name}: {c} is not in include/syncwright.h"));
        }
        for (lang, text, marker) in
            [("python", &python, "class Engine"), ("node", &node, "export declare class Engine")]
        {
            let v = get(lang);
            if v.is_empty() {
                problems.push(format!("{name}: no {lang} entry"));
                continue;
            }
            if v == "pending" {
                problems.push(format!("{name}: {lang} is pending (nothing may be)"));
                continue;
            }
            // A function of the package rather than a method.
            if let Some(f) = v.strip_prefix("syncwright.") {
                if !python_package.contains(&format!("def {f}(")) {
                    problems.push(format!("{name}: python {v} is not in the package"));
                }
                continue;
            }
            if lang == "node" && !v.starts_with("Engine") {
                if !node.contains(&format!("export declare function {v}(")) {
                    problems.push(format!("{name}: node {v} is not in index.d.ts"));
                }
                continue;
            }
            let method =
                v.strip_prefix("Engine.").or_else(|| v.strip_prefix("Engine")).unwrap_or(&v);
            if !has_method(text, marker, method) {
                problems.push(format!("{name}: {lang} {v} is not in its package"));
            }
            // The async engine has every call of the blocking one, as a coroutine (its constructor is `open`).
            let on_async = match method {
                "" => "open",
                "closed" => "closed",
                m => m,
            };
            if lang == "python" && !has_method(text, "class AsyncEngine", on_async) {
                problems.push(format!("{name}: python AsyncEngine.{on_async} is missing"));
            }
        }
    }
    assert!(problems.is_empty(), "parity problems:\n  {}", problems.join("\n  "));
}

#[test]
fn the_scanner_finds_the_calls_it_must() {
    let calls = front_door_calls();
    for c in ["new", "run_profile", "unlock_profile", "recovery_metrics", "plan"] {
        assert!(calls.contains_key(c), "{c} not found: {calls:?}");
    }
}
