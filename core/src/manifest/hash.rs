//! Content hashing (SHA-256, the canonical content hash) and the source-version fingerprint of temporary names.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Buffer size for hashing files.
const HASH_BUF: usize = 1 << 20;

/// The SHA-256 of a file's content, lowercase hex. `display` names the file in errors.
pub fn sha256_file(path: &Path, display: &str) -> Result<String> {
    thread_local! {
        // One buffer per hashing thread, not one allocation per file.
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(&e, "cannot open", display))?;
    let mut h = Sha256::new();
    BUF.with_borrow_mut(|buf| {
        if buf.len() < HASH_BUF {
            buf.resize(HASH_BUF, 0);
        }
        loop {
            let n = match f.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(&e, "cannot read", display)),
            };
            h.update(&buf[..n]);
        }
        Ok(())
    })?;
    Ok(hex::encode(h.finalize()))
}

/// The SHA-256 of a byte slice, lowercase hex.
pub fn sha256_bytes(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A streaming SHA-256.
#[derive(Default, Clone)]
pub struct Hasher(Sha256);

impl Hasher {
    /// A new hasher.
    pub fn new() -> Hasher {
        Hasher(Sha256::new())
    }
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The digest, lowercase hex.
    pub fn finish_hex(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// 16 hex characters that identify a target path and a version (size, mtime) of its source.
pub fn version_fingerprint(path: &str, size: u64, mtime_ns: i64) -> String {
    let mut h = Sha256::new();
    h.update(path.as_bytes());
    h.update([0]);
    h.update(size.to_le_bytes());
    h.update(mtime_ns.to_le_bytes());
    hex::encode(&h.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(
            sha256_bytes(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut h = Hasher::new();
        h.update(b"ab");
        h.update(b"c");
        assert_eq!(
            h.finish_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let a = version_fingerprint("a", 1, 2);
        assert_eq!(a.len(), 16);
        assert_ne!(a, version_fingerprint("a", 1, 3));
        assert_ne!(a, version_fingerprint("b", 1, 2));
    }
}
