//! [`Hashes`]: content hashes by algorithm, compact in memory (SHA-256 as 32 raw bytes, no allocation), written
//! as a JSON object of lowercase hex sorted by algorithm name (`{"md5": "...", "sha256": "..."}`).

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The algorithm name of the canonical content hash.
pub const SHA256: &str = "sha256";

/// Content hashes of an entry.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Hashes {
    sha256: Option<[u8; 32]>,
    /// Other algorithms (`md5`, `etag`, ...), sorted by name, as given.
    other: Vec<(String, String)>,
}

impl fmt::Debug for Hashes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.pairs()).finish()
    }
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    // Only the lowercase spelling round-trips exactly.
    (s.bytes().all(|b| !b.is_ascii_uppercase())).then_some(out)
}

impl Hashes {
    /// No hashes.
    pub fn new() -> Hashes {
        Hashes::default()
    }

    /// True when no hash is known.
    pub fn is_empty(&self) -> bool {
        self.sha256.is_none() && self.other.is_empty()
    }

    /// The SHA-256 as raw bytes.
    pub fn sha256_raw(&self) -> Option<&[u8; 32]> {
        self.sha256.as_ref()
    }

    /// The SHA-256 as lowercase hex.
    pub fn sha256(&self) -> Option<String> {
        self.sha256.map(hex::encode)
    }

    /// The hash of `algo`, as hex.
    pub fn get(&self, algo: &str) -> Option<String> {
        if algo == SHA256 {
            if let Some(s) = self.sha256 {
                return Some(hex::encode(s));
            }
        }
        self.other.iter().find(|(a, _)| a == algo).map(|(_, v)| v.clone())
    }

    /// Sets the hash of `algo` (a SHA-256 that is not 64 lowercase hex digits is kept as given, not parsed).
    pub fn insert(&mut self, algo: &str, value: impl Into<String>) {
        let value = value.into();
        if algo == SHA256 {
            if let Some(raw) = parse_hex32(&value) {
                self.sha256 = Some(raw);
                self.other.retain(|(a, _)| a != SHA256);
                return;
            }
            self.sha256 = None;
        }
        match self.other.binary_search_by(|(a, _)| a.as_str().cmp(algo)) {
            Ok(i) => self.other[i].1 = value,
            Err(i) => self.other.insert(i, (algo.to_string(), value)),
        }
    }

    /// Sets the SHA-256 from raw bytes.
    pub fn set_sha256_raw(&mut self, raw: [u8; 32]) {
        self.sha256 = Some(raw);
        self.other.retain(|(a, _)| a != SHA256);
    }

    /// Adds every hash of `other` that this one lacks.
    pub fn fill_from(&mut self, other: &Hashes) {
        if self.sha256.is_none() && self.get(SHA256).is_none() {
            if let Some(s) = other.sha256 {
                self.sha256 = Some(s);
            }
        }
        for (a, v) in &other.other {
            if self.get(a).is_none() {
                self.insert(a, v.clone());
            }
        }
    }

    /// (algorithm, hex) pairs sorted by algorithm.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut v = self.other.clone();
        if let Some(s) = self.sha256 {
            let i = v.binary_search_by(|(a, _)| a.as_str().cmp(SHA256)).unwrap_or_else(|i| i);
            v.insert(i, (SHA256.to_string(), hex::encode(s)));
        }
        v
    }
}

impl Serialize for Hashes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.other.len() + usize::from(self.sha256.is_some())))?;
        let mut sha_done = self.sha256.is_none();
        let mut buf = [0u8; 64];
        for (a, v) in &self.other {
            if !sha_done && a.as_str() > SHA256 {
                let raw = self.sha256.as_ref().expect("checked");
                hex::encode_to_slice(raw, &mut buf).expect("64 bytes");
                m.serialize_entry(SHA256, std::str::from_utf8(&buf).expect("hex"))?;
                sha_done = true;
            }
            m.serialize_entry(a, v)?;
        }
        if !sha_done {
            let raw = self.sha256.as_ref().expect("checked");
            hex::encode_to_slice(raw, &mut buf).expect("64 bytes");
            m.serialize_entry(SHA256, std::str::from_utf8(&buf).expect("hex"))?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Hashes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hashes, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Hashes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of algorithm -> hex digest")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Hashes, A::Error> {
                let mut h = Hashes::new();
                while let Some((k, v)) = map.next_entry::<std::borrow::Cow<'de, str>, String>()? {
                    h.insert(&k, v);
                }
                Ok(h)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_a_sorted_object_and_round_trips() {
        let mut h = Hashes::new();
        h.insert("sha256", "ab".repeat(32));
        h.insert("xxh", "1");
        h.insert("md5", "2");
        let j = serde_json::to_string(&h).unwrap();
        assert_eq!(j, format!(r#"{{"md5":"2","sha256":"{}","xxh":"1"}}"#, "ab".repeat(32)));
        let back: Hashes = serde_json::from_str(&j).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.sha256().unwrap(), "ab".repeat(32));
        // A malformed sha256 is kept as given, so the document still round-trips.
        let odd: Hashes = serde_json::from_str(r#"{"sha256":"XYZ"}"#).unwrap();
        assert_eq!(serde_json::to_string(&odd).unwrap(), r#"{"sha256":"XYZ"}"#);
        assert!(odd.sha256_raw().is_none());
        assert!(std::mem::size_of::<Hashes>() <= 64);
    }
}
