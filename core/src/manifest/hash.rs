//! Content hashing (SHA-256, the canonical content hash; BLAKE3, the fast comparison hash) and the source-version
//! fingerprint of temporary names.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Buffer size for hashing files.
const HASH_BUF: usize = 1 << 20;

/// A content hash algorithm syncwright computes itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashAlgo {
    /// SHA-256, the canonical content hash.
    #[default]
    Sha256,
    /// BLAKE3, the fast one for comparisons.
    Blake3,
}

impl HashAlgo {
    /// The name used in [`super::Hashes`] and in the hash cache.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Sha256 => super::SHA256,
            HashAlgo::Blake3 => super::BLAKE3,
        }
    }
}

/// The `algo` digest of a file's content, lowercase hex. `display` names the file in errors.
pub fn hash_file(path: &Path, display: &str, algo: HashAlgo) -> Result<String> {
    thread_local! {
        // One buffer per hashing thread, not one allocation per file.
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(&e, "cannot open", display))?;
    let mut h = AlgoHasher::new(algo);
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
    Ok(h.finish_hex())
}

/// A streaming hasher of one [`HashAlgo`]; bytes can be written into it (`std::io::copy`, a reader's output).
#[derive(Clone)]
pub enum AlgoHasher {
    /// SHA-256.
    Sha256(Sha256),
    /// BLAKE3.
    Blake3(Box<blake3::Hasher>),
}

impl AlgoHasher {
    /// A new hasher of `algo`.
    pub fn new(algo: HashAlgo) -> AlgoHasher {
        match algo {
            HashAlgo::Sha256 => AlgoHasher::Sha256(Sha256::new()),
            HashAlgo::Blake3 => AlgoHasher::Blake3(Box::default()),
        }
    }
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            AlgoHasher::Sha256(h) => h.update(data),
            AlgoHasher::Blake3(h) => {
                h.update(data);
            }
        }
    }
    /// The digest, lowercase hex.
    pub fn finish_hex(self) -> String {
        match self {
            AlgoHasher::Sha256(h) => hex::encode(h.finalize()),
            AlgoHasher::Blake3(h) => h.finalize().to_hex().to_string(),
        }
    }
}

impl std::io::Write for AlgoHasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The SHA-256 of a file's content, lowercase hex.
pub fn sha256_file(path: &Path, display: &str) -> Result<String> {
    hash_file(path, display, HashAlgo::Sha256)
}

/// The SHA-256 of a byte slice, lowercase hex.
pub fn sha256_bytes(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The streaming hasher of copies: BLAKE3, the fast content hash (about four times SHA-256's speed here), so
/// that hashing every byte moved costs little. Manifests get SHA-256 from scans (`syncwright manifest`).
#[derive(Default, Clone)]
pub struct Hasher(blake3::Hasher);

impl Hasher {
    /// A new hasher.
    pub fn new() -> Hasher {
        Hasher::default()
    }
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The BLAKE3 digest, raw.
    pub fn finish_raw(self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
    /// The BLAKE3 digest, lowercase hex.
    pub fn finish_hex(self) -> String {
        self.0.finalize().to_hex().to_string()
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
        let a = version_fingerprint("a", 1, 2);
        assert_eq!(a.len(), 16);
        assert_ne!(a, version_fingerprint("a", 1, 3));
        assert_ne!(a, version_fingerprint("b", 1, 2));
    }
}
