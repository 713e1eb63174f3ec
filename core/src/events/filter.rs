//! [`EventFilter`]: which events a subscription wants.

use super::{Event, EventRecord};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Which events a subscription wants (canonical JSON; every field optional, unknown fields refused). An event is
/// taken when it matches every field given: `job_id`, `profile` and `operation_id` compare with what the event is
/// about ([`super::About`]: a job's events, the locks it holds and its operation's recovery events are about the
/// job; a profile run's events, its locks' and its log entries are about the profile; recovery events are about
/// their operation), and `types` lists the `type` names taken (empty: all). The empty filter takes everything.
///
/// ```json
/// {"profile": "user_data", "types": ["job_finished", "log"]}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventFilter {
    /// Only events about this job.
    pub job_id: Option<String>,
    /// Only events about this profile.
    pub profile: Option<String>,
    /// Only events about this operation.
    pub operation_id: Option<String>,
    /// Only events of these types (snake_case `type` names, see [`Event::TYPES`]); empty: every type.
    pub types: Vec<String>,
}

impl EventFilter {
    /// Parses a filter from JSON (None, empty or `null`: everything); `invalid_input` for a bad one.
    pub fn from_json(s: Option<&str>) -> Result<EventFilter> {
        let f = match s.map(str::trim) {
            None | Some("") | Some("null") => EventFilter::default(),
            Some(s) => serde_json::from_str(s)
                .map_err(|e| Error::invalid(format!("bad event filter: {e}")))?,
        };
        f.check()?;
        Ok(f)
    }

    /// `invalid_input` when a type is not the name of an event type.
    pub fn check(&self) -> Result<()> {
        match self.types.iter().find(|t| !Event::TYPES.contains(&t.as_str())) {
            None => Ok(()),
            Some(t) => Err(Error::invalid(format!(
                "bad event filter: {t:?} is not an event type (types: {})",
                Event::TYPES.join(", ")
            ))
            .with_details(serde_json::json!({ "type": t, "types": Event::TYPES }))),
        }
    }

    /// Whether it takes everything.
    pub fn is_empty(&self) -> bool {
        self == &EventFilter::default()
    }

    /// Whether it takes `r`.
    pub fn matches(&self, r: &EventRecord) -> bool {
        let same = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        same(&self.job_id, r.job_id())
            && same(&self.profile, r.profile())
            && same(&self.operation_id, r.operation_id())
            && (self.types.is_empty() || self.types.iter().any(|t| t == r.type_name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::About;

    #[test]
    fn fields_are_anded_types_are_ored_and_bad_filters_are_invalid_input() {
        let about =
            About { job_id: Some("j".into()), profile: Some("p".into()), operation_id: None };
        let r = EventRecord::new(
            1,
            Event::JobStarted { job_id: "j".into(), at: "t".into() },
            about,
            "t".into(),
        );
        let f = |s: &str| EventFilter::from_json(Some(s)).unwrap();
        assert!(
            f("{}").matches(&r) && f("null").is_empty() && EventFilter::from_json(None).is_ok()
        );
        assert!(f(r#"{"job_id":"j","profile":"p"}"#).matches(&r));
        assert!(!f(r#"{"job_id":"j","profile":"q"}"#).matches(&r));
        assert!(!f(r#"{"operation_id":"j"}"#).matches(&r));
        assert!(f(r#"{"types":["log","job_started"]}"#).matches(&r));
        assert!(!f(r#"{"types":["log"]}"#).matches(&r));
        for bad in [r#"{"type":["log"]}"#, r#"{"types":"log"}"#, "[", r#"{"types":["nope"]}"#] {
            let e = EventFilter::from_json(Some(bad)).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{bad}");
        }
        let e = EventFilter::from_json(Some(r#"{"types":["nope"]}"#)).unwrap_err();
        assert_eq!(e.details().unwrap()["type"], "nope");
        assert_eq!(
            serde_json::to_string(&f(r#"{"profile":"p"}"#)).unwrap(),
            r#"{"job_id":null,"profile":"p","operation_id":null,"types":[]}"#
        );
    }
}
