//! The circuit breakers of an engine: one per remote target, shared by every job against it, configured by
//! `[settings.breaker]` ([`BreakerSettings`]) and made on first use ([`BreakerRegistry`]).
//!
//! ```toml
//! [settings.breaker]                      # the defaults of every target (BreakerConfig's fields)
//! failure_threshold = 5
//! cooldown_secs = 30
//!
//! [settings.breaker.targets."sftp://"]     # every SSH host
//! cooldown_secs = 60
//!
//! [settings.breaker.targets."sftp://backup@nas:22"]   # that one: its own values over the defaults
//! failure_threshold = 2
//! ```
//!
//! A target's key is what its backend names ([`crate::backend::Backend::breaker_target`]):
//! `sftp://user@host:port`, `s3://bucket` (`s3://bucket@host:port` for an S3-compatible endpoint),
//! `gdrive://account`. An override applies to the target whose key is its own, or else the longest one that the
//! target's key starts with; the fields it does not set come from the defaults.

use super::breaker::{BreakerConfig, BreakerStatus, CircuitBreaker, TransitionCallback};
use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// `[settings.breaker]`: the breaker defaults and the overrides of some targets (by key or key prefix).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BreakerSettings {
    /// The config of every target without an override.
    pub defaults: BreakerConfig,
    /// Per target key (or key prefix): the config in force there (the defaults with the override's fields).
    pub targets: BTreeMap<String, BreakerConfig>,
}

impl BreakerSettings {
    /// The config in force for `target`: that of the override whose key is `target`, or else of the longest key
    /// `target` starts with, or else the defaults.
    pub fn config_for(&self, target: &str) -> BreakerConfig {
        self.targets
            .iter()
            .filter(|(k, _)| target.starts_with(k.as_str()))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, c)| *c)
            .unwrap_or(self.defaults)
    }

    /// Checks every config (see [`BreakerConfig::validate`]); `invalid_input` naming the key at fault.
    pub fn validate(&self) -> Result<()> {
        let named = |at: &str, e: Error| Error::invalid(format!("{at}: {}", e.message()));
        self.defaults.validate().map_err(|e| named("settings.breaker", e))?;
        for (k, c) in &self.targets {
            if k.trim().is_empty() {
                return Err(Error::invalid(
                    "settings.breaker.targets: a target key is empty (give one such as \"sftp://user@host:22\")",
                ));
            }
            c.validate().map_err(|e| named(&format!("settings.breaker.targets.{k:?}"), e))?;
        }
        Ok(())
    }

    /// Reads the table's fields: BreakerConfig's at the top, `targets` overrides below. Messages name the key.
    fn from_map(mut m: serde_json::Map<String, serde_json::Value>) -> Result<BreakerSettings> {
        let targets = match m.remove("targets") {
            None => serde_json::Map::new(),
            Some(serde_json::Value::Object(t)) => t,
            Some(_) => {
                return Err(Error::invalid(
                    "settings.breaker.targets must be a table of target keys, such as \
                     [settings.breaker.targets.\"sftp://user@host:22\"]",
                ));
            }
        };
        let defaults_value = serde_json::Value::Object(m);
        let defaults: BreakerConfig = serde_json::from_value(defaults_value.clone())
            .map_err(|e| Error::invalid(format!("settings.breaker: {e}")))?;
        let mut out = BreakerSettings { defaults, targets: BTreeMap::new() };
        for (k, v) in targets {
            let at = format!("settings.breaker.targets.{k:?}");
            let serde_json::Value::Object(over) = v else {
                return Err(Error::invalid(format!("{at} must be a table of breaker settings")));
            };
            if over.contains_key("targets") {
                return Err(Error::invalid(format!("{at}: targets cannot be nested")));
            }
            // The override's fields over the defaults as given (the fields it leaves out come from there).
            let mut merged = match &defaults_value {
                serde_json::Value::Object(d) => d.clone(),
                _ => serde_json::Map::new(),
            };
            merged.extend(over);
            let c: BreakerConfig = serde_json::from_value(serde_json::Value::Object(merged))
                .map_err(|e| Error::invalid(format!("{at}: {e}")))?;
            out.targets.insert(k, c);
        }
        Ok(out)
    }
}

impl<'de> Deserialize<'de> for BreakerSettings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let m = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        BreakerSettings::from_map(m).map_err(|e| serde::de::Error::custom(e.message()))
    }
}

impl Serialize for BreakerSettings {
    /// The table as it is read: the defaults' fields, then `targets` (each with its config in force).
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut v = serde_json::to_value(self.defaults).map_err(serde::ser::Error::custom)?;
        if !self.targets.is_empty()
            && let serde_json::Value::Object(m) = &mut v
        {
            let t = serde_json::to_value(&self.targets).map_err(serde::ser::Error::custom)?;
            m.insert("targets".into(), t);
        }
        v.serialize(s)
    }
}

/// The breakers of an engine, one per target key, made on first use with the config in force for the target and
/// shared by every job against it.
pub struct BreakerRegistry {
    settings: BreakerSettings,
    map: Mutex<BTreeMap<String, Arc<CircuitBreaker>>>,
    on_transition: Option<TransitionCallback>,
}

impl Default for BreakerRegistry {
    fn default() -> Self {
        BreakerRegistry::new(BreakerSettings::default(), None)
    }
}

impl std::fmt::Debug for BreakerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakerRegistry")
            .field("settings", &self.settings)
            .field("targets", &self.lock().keys().collect::<Vec<_>>())
            .finish()
    }
}

impl BreakerRegistry {
    /// Breakers configured by `settings`, each reporting its transitions to `on_transition`.
    pub fn new(settings: BreakerSettings, on_transition: Option<TransitionCallback>) -> Self {
        BreakerRegistry { settings, map: Mutex::default(), on_transition }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<CircuitBreaker>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The settings (the effective defaults and the overrides).
    pub fn settings(&self) -> &BreakerSettings {
        &self.settings
    }

    /// The breaker of `target` (made closed on first use).
    pub fn get(&self, target: &str) -> Arc<CircuitBreaker> {
        self.lock()
            .entry(target.to_string())
            .or_insert_with(|| {
                Arc::new(CircuitBreaker::new(
                    target,
                    self.settings.config_for(target),
                    self.on_transition.clone(),
                ))
            })
            .clone()
    }

    /// Every breaker made so far, by target.
    pub fn statuses(&self) -> Vec<BreakerStatus> {
        // The breakers are listed outside the map's lock: a status may fire a transition (a cool-down that ended).
        let all: Vec<Arc<CircuitBreaker>> = self.lock().values().cloned().collect();
        all.iter().map(|b| b.status()).collect()
    }

    /// Times any breaker opened.
    pub fn trips(&self) -> u64 {
        self.lock().values().map(|b| b.trips()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::BreakerState;

    fn settings(toml_text: &str) -> Result<BreakerSettings> {
        #[derive(Deserialize)]
        struct Doc {
            breaker: BreakerSettings,
        }
        let d: Doc = toml::from_str(toml_text).map_err(|e| Error::invalid(e.to_string()))?;
        d.breaker.validate()?;
        Ok(d.breaker)
    }

    #[test]
    fn overrides_match_by_key_or_longest_prefix_over_the_defaults() {
        let s = settings(
            "[breaker]\nfailure_threshold = 4\ncooldown_secs = 10\n\
             [breaker.targets.\"sftp://\"]\ncooldown_secs = 60\n\
             [breaker.targets.\"sftp://backup@nas\"]\nfailure_threshold = 2\n",
        )
        .unwrap();
        assert_eq!((s.defaults.failure_threshold, s.defaults.cooldown_secs), (4, 10.0));
        assert_eq!(s.defaults.min_calls, BreakerConfig::default().min_calls);
        let c = s.config_for("sftp://backup@nas:22");
        assert_eq!((c.failure_threshold, c.cooldown_secs), (2, 10.0), "the longest prefix wins");
        let c = s.config_for("sftp://pod@gpu-1:22");
        assert_eq!((c.failure_threshold, c.cooldown_secs), (4, 60.0));
        assert_eq!(s.config_for("s3://bucket"), s.defaults);
        // The canonical form reads back the same.
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["failure_threshold"], 4);
        assert_eq!(v["targets"]["sftp://backup@nas"]["failure_threshold"], 2);
        assert_eq!(serde_json::from_value::<BreakerSettings>(v).unwrap(), s);
        assert_eq!(settings("[breaker]\n").unwrap(), BreakerSettings::default());
    }

    #[test]
    fn mistakes_are_invalid_input_naming_the_key() {
        for (text, names) in [
            ("[breaker]\ncooldown = 5\n", "cooldown"),
            ("[breaker]\ncooldown_secs = -1\n", "settings.breaker: breaker cooldown_secs"),
            ("[breaker.targets.\"s3://b\"]\nwindow_secs = 1e300\n", "\"s3://b\""),
            ("[breaker.targets.\"s3://b\"]\nfailure_treshold = 1\n", "failure_treshold"),
            ("[breaker]\ntargets = 3\n", "settings.breaker.targets"),
            ("[breaker.targets]\n\"s3://b\" = 1\n", "\"s3://b\""),
            ("[breaker.targets.\" \"]\ncooldown_secs = 1\n", "empty"),
            ("[breaker.targets.\"a\".targets.\"b\"]\ncooldown_secs = 1\n", "nested"),
        ] {
            let e = settings(text).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{text}");
            assert!(e.message().contains(names), "{text}: {}", e.message());
        }
    }

    #[test]
    fn one_breaker_per_target_shared_and_listed() {
        let s = settings("[breaker]\nfailure_threshold = 1\n[breaker.targets.\"s3://\"]\nfailure_threshold = 3\n")
            .unwrap();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let s2 = seen.clone();
        let r = BreakerRegistry::new(
            s,
            Some(Arc::new(move |t: &crate::recovery::BreakerTransition| {
                s2.lock().unwrap().push(format!("{} {:?}", t.target, t.to))
            })),
        );
        assert!(Arc::ptr_eq(&r.get("sftp://u@h:22"), &r.get("sftp://u@h:22")));
        r.get("sftp://u@h:22").record(false);
        r.get("s3://bucket").record(false);
        let l = r.statuses();
        assert_eq!(l.len(), 2);
        assert_eq!((l[0].target.as_str(), l[0].state), ("s3://bucket", BreakerState::Closed));
        assert_eq!((l[0].consecutive_failures, l[0].config.failure_threshold), (1, 3));
        assert_eq!((l[1].target.as_str(), l[1].state), ("sftp://u@h:22", BreakerState::Open));
        assert!(l[1].opened_at.is_some() && l[1].next_probe_at.is_some());
        assert!(l[1].timeout_remaining > 0.0);
        assert_eq!(r.trips(), 1);
        assert_eq!(*seen.lock().unwrap(), ["sftp://u@h:22 Open"]);
        let v = serde_json::to_value(&l[1]).unwrap();
        assert_eq!(v["state"], "open");
        assert_eq!(v["config"]["cooldown_secs"], 30.0);
    }
}
