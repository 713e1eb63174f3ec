//! The vault's encrypted envelope: a versioned JSON object whose header names the key derivation (Argon2id with its
//! parameters and salt), the cipher (AES-256-GCM) and the nonce, and carries a check of the derived key and a hash
//! of itself; the body is the secrets, encrypted with the header bound as associated data.
//!
//! Reading tells the failures apart: JSON that does not parse, a header whose hash does not match, parameters out of
//! bounds or a body that does not decrypt are `corrupt`; a key check that does not match (a wrong passphrase) is
//! `auth`; an unknown format version is `invalid_input`. Nothing here panics on input.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};

/// The `format` of every envelope.
pub const FORMAT: &str = "syncwright-vault";
/// The envelope version this code writes and reads.
pub const VERSION: u32 = 1;

/// Bounds on parameters read from a file: beyond them the file is `corrupt` (a hostile file must not make an
/// unlock take a gigabyte of memory per thread or an hour).
pub const MAX_M_KIB: u32 = 1024 * 1024;
/// The largest number of passes accepted.
pub const MAX_T: u32 = 10;
/// The largest parallelism accepted.
pub const MAX_P: u32 = 16;

/// Argon2id's parameters: memory in KiB, passes, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KdfParams {
    /// Memory, in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Default for KdfParams {
    /// RFC 9106's second recommended option: 64 MiB, 3 passes, 4 lanes.
    fn default() -> KdfParams {
        KdfParams { m_kib: 64 * 1024, t: 3, p: 4 }
    }
}

impl KdfParams {
    /// `invalid_input` (for settings) naming what is out of bounds.
    pub fn validate(&self) -> Result<()> {
        self.check().map_err(Error::invalid)
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.t == 0 || self.t > MAX_T {
            return Err(format!("vault kdf t must be 1 to {MAX_T}, not {}", self.t));
        }
        if self.p == 0 || self.p > MAX_P {
            return Err(format!("vault kdf p must be 1 to {MAX_P}, not {}", self.p));
        }
        if self.m_kib < 8 * self.p || self.m_kib > MAX_M_KIB {
            return Err(format!(
                "vault kdf m_kib must be {} to {MAX_M_KIB}, not {}",
                8 * self.p,
                self.m_kib
            ));
        }
        Ok(())
    }

    /// True when these are weaker than `other` in any respect (a vault made with them is upgraded on its next
    /// write).
    pub fn weaker_than(&self, other: &KdfParams) -> bool {
        self.m_kib < other.m_kib || self.t < other.t || self.p < other.p
    }
}

/// How the key is derived: the algorithm, its parameters and the salt (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kdf {
    /// Always `argon2id`.
    pub algorithm: String,
    /// Its parameters.
    #[serde(flatten)]
    pub params: KdfParams,
    /// 16 random bytes, hex.
    pub salt: String,
}

/// What the associated data binds: everything of an envelope but its ciphertext and its own hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The key derivation.
    pub kdf: Kdf,
    /// Always `aes-256-gcm`.
    pub cipher: String,
    /// 12 random bytes, hex, fresh for every write.
    pub nonce: String,
    /// SHA-256 of the derived check key, hex: tells a wrong passphrase from a damaged body.
    pub key_check: String,
}

/// One encrypted envelope: its header, the ciphertext (hex) and the header's SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The header.
    #[serde(flatten)]
    pub header: Header,
    /// The secrets, encrypted, hex.
    pub ciphertext: String,
    /// SHA-256 of the header's canonical JSON, hex.
    pub header_sha256: String,
}

/// The keys derived from a passphrase and a salt: one encrypts, the other is checked.
#[derive(Clone)]
pub struct Keys {
    enc: [u8; 32],
    check: [u8; 32],
    params: KdfParams,
    salt: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.enc = [0; 32];
        self.check = [0; 32];
    }
}

fn corrupt(what: impl Into<String>) -> Error {
    Error::new(ErrorKind::Corrupt, what)
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| Error::internal(format!("no random bytes: {e}")))?;
    Ok(b)
}

impl Keys {
    /// Derives the keys of `passphrase` with `params` and a new random salt.
    pub fn new(passphrase: &str, params: KdfParams) -> Result<Keys> {
        params.validate()?;
        Keys::derive(passphrase, params, &hex::encode(random::<16>()?))
    }

    /// Derives the keys of `passphrase` with `params` and `salt` (hex).
    pub fn derive(passphrase: &str, params: KdfParams, salt: &str) -> Result<Keys> {
        let salt_bytes = hex::decode(salt).map_err(|_| corrupt("the vault's salt is not hex"))?;
        if salt_bytes.len() < 8 {
            return Err(corrupt("the vault's salt is too short"));
        }
        let p = argon2::Params::new(params.m_kib, params.t, params.p, Some(64))
            .map_err(|e| corrupt(format!("the vault's kdf parameters: {e}")))?;
        let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
        let mut out = [0u8; 64];
        a.hash_password_into(passphrase.as_bytes(), &salt_bytes, &mut out)
            .map_err(|e| Error::internal(format!("argon2: {e}")))?;
        let mut enc = [0u8; 32];
        let mut check = [0u8; 32];
        enc.copy_from_slice(&out[..32]);
        check.copy_from_slice(&out[32..]);
        out = [0; 64];
        let _ = out;
        Ok(Keys { enc, check, params, salt: salt.to_string() })
    }

    /// The parameters these keys were derived with.
    pub fn params(&self) -> KdfParams {
        self.params
    }

    fn key_check(&self) -> String {
        hex::encode(Sha256::digest(self.check))
    }
}

fn header_hash(h: &Header) -> Result<String> {
    Ok(hex::encode(Sha256::digest(serde_json::to_vec(h)?)))
}

impl Envelope {
    /// Encrypts `plaintext` under `keys` with a fresh nonce.
    pub fn seal(keys: &Keys, plaintext: &[u8]) -> Result<Envelope> {
        let nonce = random::<12>()?;
        let header = Header {
            format: FORMAT.to_string(),
            version: VERSION,
            kdf: Kdf { algorithm: "argon2id".into(), params: keys.params, salt: keys.salt.clone() },
            cipher: "aes-256-gcm".into(),
            nonce: hex::encode(nonce),
            key_check: keys.key_check(),
        };
        let aad = serde_json::to_vec(&header)?;
        let cipher = Aes256Gcm::new_from_slice(&keys.enc)
            .map_err(|e| Error::internal(format!("aes key: {e}")))?;
        let sealed = cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: &aad })
            .map_err(|_| Error::internal("aes-gcm encryption failed"))?;
        let header_sha256 = header_hash(&header)?;
        Ok(Envelope { header, ciphertext: hex::encode(sealed), header_sha256 })
    }

    /// Checks the header (format, version, hash, bounds) without a passphrase.
    pub fn check_header(&self) -> Result<()> {
        let h = &self.header;
        if h.format != FORMAT {
            return Err(corrupt(format!("not a syncwright vault (format {:?})", h.format)));
        }
        if h.version != VERSION {
            return Err(Error::invalid(format!(
                "vault version {} is not one this syncwright reads (it reads {VERSION})",
                h.version
            )));
        }
        if header_hash(h)? != self.header_sha256 {
            return Err(corrupt(
                "the vault's header does not match its hash (the file is damaged)",
            ));
        }
        if h.kdf.algorithm != "argon2id" || h.cipher != "aes-256-gcm" {
            return Err(corrupt("the vault names an unknown algorithm"));
        }
        h.kdf.params.check().map_err(|m| corrupt(format!("the vault's {m}")))?;
        Ok(())
    }

    /// The keys of `passphrase` for this envelope, checked: `auth` for a wrong passphrase. `known` are reused when
    /// their salt and parameters are this envelope's (no new derivation).
    pub fn keys(&self, passphrase: &str, known: Option<&Keys>) -> Result<Keys> {
        self.check_header()?;
        let kdf = &self.header.kdf;
        let keys = match known {
            Some(k) if k.salt == kdf.salt && k.params == kdf.params => k.clone(),
            _ => Keys::derive(passphrase, kdf.params, &kdf.salt)?,
        };
        if keys.key_check() != self.header.key_check {
            return Err(Error::new(ErrorKind::Auth, "wrong vault passphrase"));
        }
        Ok(keys)
    }

    /// Decrypts the body with checked `keys`: `corrupt` when it does not decrypt.
    pub fn open(&self, keys: &Keys) -> Result<Vec<u8>> {
        let nonce: [u8; 12] = hex::decode(&self.header.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| corrupt("the vault's nonce is not 12 bytes of hex"))?;
        let sealed =
            hex::decode(&self.ciphertext).map_err(|_| corrupt("the vault's body is not hex"))?;
        let aad = serde_json::to_vec(&self.header)?;
        let cipher = Aes256Gcm::new_from_slice(&keys.enc)
            .map_err(|e| Error::internal(format!("aes key: {e}")))?;
        cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: &sealed, aad: &aad })
            .map_err(|_| corrupt("the vault's body does not decrypt (the file is damaged)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = KdfParams { m_kib: 64, t: 1, p: 1 };

    #[test]
    fn seal_and_open_round_trip_and_a_wrong_passphrase_is_auth() {
        let k = Keys::new("pass", FAST).unwrap();
        let e = Envelope::seal(&k, b"{\"a\":1}").unwrap();
        let again = e.keys("pass", None).unwrap();
        assert_eq!(e.open(&again).unwrap(), b"{\"a\":1}");
        assert_eq!(e.keys("wrong", None).unwrap_err().kind(), ErrorKind::Auth);
        // A fresh nonce per seal.
        assert_ne!(Envelope::seal(&k, b"x").unwrap().header.nonce, e.header.nonce);
    }

    #[test]
    fn parameters_out_of_bounds_are_refused() {
        for p in [
            KdfParams { m_kib: MAX_M_KIB + 1, t: 1, p: 1 },
            KdfParams { m_kib: 64, t: 0, p: 1 },
            KdfParams { m_kib: 64, t: MAX_T + 1, p: 1 },
            KdfParams { m_kib: 64, t: 1, p: MAX_P + 1 },
        ] {
            assert_eq!(Keys::new("x", p).unwrap_err().kind(), ErrorKind::InvalidInput, "{p:?}");
        }
        assert!(FAST.weaker_than(&KdfParams::default()));
        assert!(!KdfParams::default().weaker_than(&KdfParams::default()));
    }
}
