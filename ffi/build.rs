//! Generates the C header with cbindgen.
//!
//! The header is always written to `$OUT_DIR/syncwright.h`; the drift test (tests/c_abi.rs) compares it with
//! the committed `include/syncwright.h`. On a developer machine the committed copy is refreshed too, so a
//! change to the ABI shows up in `git diff`. Under CI (`CI` set) the source tree is left alone, so a header that
//! was not regenerated and committed fails the drift test instead of being silently rewritten.

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CI");

    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("ffi/cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the C header");
    let generated = out_dir.join("syncwright.h");
    bindings.write_to_file(&generated);

    // The shared library's soname names its major version (libsyncwright_ffi.so.0): a program linked against it
    // loads that file, which scripts/install-c.sh installs as a link to libsyncwright_ffi.so.<version>, so a newer
    // library of the same major version replaces an older one without relinking. ELF platforms only.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(os.as_str(), "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("CARGO_PKG_VERSION_MAJOR");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsyncwright_ffi.so.{major}");
    }

    let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    let include_dir = crate_dir.join("..").join("include");
    // `include/` is absent when the crate is built from a package: then only OUT_DIR gets the header.
    if !in_ci && include_dir.is_dir() {
        let committed = include_dir.join("syncwright.h");
        let new = std::fs::read(&generated).expect("read generated header");
        if std::fs::read(&committed).ok().as_deref() != Some(new.as_slice()) {
            std::fs::write(&committed, new).expect("write include/syncwright.h");
        }
    }
}
