//! [`Hashes`]: content hashes by algorithm, compact in memory (8 bytes when there are none; SHA-256 and BLAKE3 as
//! raw bytes), written as a JSON object of lowercase hex sorted by algorithm name
//! (`{"blake3": "...", "md5": "...", "sha256": "..."}`).
//!
//! SHA-256 is the canonical content hash. BLAKE3 is the fast one that checksum comparisons use when both sides
//! have it (about four times the speed of SHA-256 here).

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The algorithm name of the canonical content hash.
pub const SHA256: &str = "sha256";
/// The algorithm name of the fast comparison hash.
pub const BLAKE3: &str = "blake3";

/// Content hashes of an entry.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Hashes(Option<Box<Inner>>);

#[derive(Clone, Default, PartialEq, Eq)]
struct Inner {
    sha256: Option<[u8; 32]>,
    blake3: Option<[u8; 32]>,
    /// Other algorithms (`md5`, `etag`, ...) and malformed digests, sorted by name, as given.
    other: Vec<(String, String)>,
}

impl fmt::Debug for Hashes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.pairs()).finish()
    }
}

/// Decodes 64 lowercase hex digits (only that spelling round-trips exactly).
fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

impl Hashes {
    /// No hashes.
    pub fn new() -> Hashes {
        Hashes::default()
    }

    fn inner_mut(&mut self) -> &mut Inner {
        self.0.get_or_insert_with(Box::default)
    }

    /// True when no hash is known.
    pub fn is_empty(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|i| i.sha256.is_none() && i.blake3.is_none() && i.other.is_empty())
    }

    /// The SHA-256 as raw bytes.
    pub fn sha256_raw(&self) -> Option<&[u8; 32]> {
        self.0.as_ref()?.sha256.as_ref()
    }

    /// The BLAKE3 as raw bytes.
    pub fn blake3_raw(&self) -> Option<&[u8; 32]> {
        self.0.as_ref()?.blake3.as_ref()
    }

    /// The SHA-256 as lowercase hex.
    pub fn sha256(&self) -> Option<String> {
        self.sha256_raw().map(hex::encode)
    }

    /// The hash of `algo`, as hex.
    pub fn get(&self, algo: &str) -> Option<String> {
        let i = self.0.as_ref()?;
        let raw = match algo {
            SHA256 => i.sha256,
            BLAKE3 => i.blake3,
            _ => None,
        };
        raw.map(hex::encode)
            .or_else(|| i.other.iter().find(|(a, _)| a == algo).map(|(_, v)| v.clone()))
    }

    /// Sets the hash of `algo` (a SHA-256 or BLAKE3 that is not 64 lowercase hex digits is kept as given).
    pub fn insert(&mut self, algo: &str, value: impl Into<String>) {
        let value = value.into();
        let i = self.inner_mut();
        let slot = match algo {
            SHA256 => Some(&mut i.sha256),
            BLAKE3 => Some(&mut i.blake3),
            _ => None,
        };
        if let Some(slot) = slot {
            if let Some(raw) = parse_hex32(&value) {
                *slot = Some(raw);
                i.other.retain(|(a, _)| a != algo);
                return;
            }
            *slot = None;
        }
        match i.other.binary_search_by(|(a, _)| a.as_str().cmp(algo)) {
            Ok(k) => i.other[k].1 = value,
            Err(k) => i.other.insert(k, (algo.to_string(), value)),
        }
    }

    /// Like [`Hashes::insert`], allocating only for digests kept as text.
    fn insert_str(&mut self, algo: &str, value: &str) {
        let i = self.inner_mut();
        let slot = match algo {
            SHA256 => Some(&mut i.sha256),
            BLAKE3 => Some(&mut i.blake3),
            _ => None,
        };
        if let Some(slot) = slot
            && let Some(raw) = parse_hex32(value)
        {
            *slot = Some(raw);
            if !i.other.is_empty() {
                i.other.retain(|(a, _)| a != algo);
            }
            return;
        }
        self.insert(algo, value.to_string());
    }

    /// Sets the SHA-256 from raw bytes.
    pub fn set_sha256_raw(&mut self, raw: [u8; 32]) {
        let i = self.inner_mut();
        i.sha256 = Some(raw);
        i.other.retain(|(a, _)| a != SHA256);
    }

    /// Sets the BLAKE3 from raw bytes.
    pub fn set_blake3_raw(&mut self, raw: [u8; 32]) {
        let i = self.inner_mut();
        i.blake3 = Some(raw);
        i.other.retain(|(a, _)| a != BLAKE3);
    }

    /// Adds every hash of `other` that this one lacks.
    pub fn fill_from(&mut self, other: &Hashes) {
        for (a, v) in other.pairs() {
            if self.get(&a).is_none() {
                self.insert(&a, v);
            }
        }
    }

    /// (algorithm, hex) pairs sorted by algorithm.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let Some(i) = self.0.as_ref() else { return Vec::new() };
        let mut v = i.other.clone();
        for (name, raw) in [(BLAKE3, i.blake3), (SHA256, i.sha256)] {
            if let Some(r) = raw {
                let k = v.binary_search_by(|(a, _)| a.as_str().cmp(name)).unwrap_or_else(|k| k);
                v.insert(k, (name.to_string(), hex::encode(r)));
            }
        }
        v
    }
}

impl Serialize for Hashes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let pairs = self.pairs();
        let mut m = s.serialize_map(Some(pairs.len()))?;
        for (a, v) in &pairs {
            m.serialize_entry(a, v)?;
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
                while let Some((k, v)) =
                    map.next_entry::<std::borrow::Cow<'de, str>, std::borrow::Cow<'de, str>>()?
                {
                    h.insert_str(&k, &v);
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
        assert_eq!(std::mem::size_of::<Hashes>(), 8);
        let mut b = Hashes::new();
        b.insert(BLAKE3, "cd".repeat(32));
        b.insert(SHA256, "ab".repeat(32));
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            format!(r#"{{"blake3":"{}","sha256":"{}"}}"#, "cd".repeat(32), "ab".repeat(32))
        );
        assert!(Hashes::new().is_empty());
    }
}
