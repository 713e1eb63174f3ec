//! [`EventRecord`]: an event as subscribers get it and the store keeps it, with its sequence number and what it
//! is about.

use super::Event;
use serde::Serialize;
use std::sync::OnceLock;

/// What an event is about, for filtering ([`super::EventFilter`]); not part of its JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct About {
    /// The job (job events, the locks it holds, the recovery events of its operation: an operation has the id of
    /// the job that runs it).
    pub job_id: Option<String>,
    /// The profile: the profile of the job (learned when the engine launched it), of a lock, of a log entry.
    pub profile: Option<String>,
    /// The operation (recovery events).
    pub operation_id: Option<String>,
}

/// An event with its sequence number: `seq` starts at 1 and only grows (across restarts too, see
/// [`super::seq`]), so a subscriber that saw `seq` N can ask for what came after it
/// ([`crate::EngineCore::subscribe_from`]).
///
/// Its JSON is the event's with `seq` added first: `{"seq":17,"type":"job_started","job_id":"…","at":"…"}`.
#[derive(Debug, Clone)]
pub struct EventRecord {
    seq: u64,
    event: Event,
    about: About,
    at: String,
    json: OnceLock<String>,
}

/// The wire form: `seq`, then the event's fields.
#[derive(Serialize)]
struct Wire<'a> {
    seq: u64,
    #[serde(flatten)]
    event: &'a Event,
}

impl Serialize for EventRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire { seq: self.seq, event: &self.event }.serialize(s)
    }
}

impl PartialEq for EventRecord {
    fn eq(&self, other: &EventRecord) -> bool {
        self.seq == other.seq
            && self.event == other.event
            && self.about == other.about
            && self.at == other.at
    }
}

impl EventRecord {
    /// The record of `event`, published as `seq` at `at` (RFC 3339).
    pub(crate) fn new(seq: u64, event: Event, about: About, at: String) -> EventRecord {
        EventRecord { seq, event, about, at, json: OnceLock::new() }
    }

    /// A record read back from the store: its JSON as it was written. None when the JSON is not an event this
    /// version knows.
    pub(crate) fn from_json(
        seq: u64,
        at: String,
        about: About,
        json: String,
    ) -> Option<EventRecord> {
        let event = serde_json::from_str::<Event>(&json).ok()?;
        Some(EventRecord { seq, event, about, at, json: OnceLock::from(json) })
    }

    /// Its sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The event.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// What it is about.
    pub fn about(&self) -> &About {
        &self.about
    }

    /// When it was published (RFC 3339, UTC, milliseconds).
    pub fn at(&self) -> &str {
        &self.at
    }

    /// Its `type` (snake_case).
    pub fn type_name(&self) -> &'static str {
        self.event.type_name()
    }

    /// The job it is about, if any (see [`About::job_id`]).
    pub fn job_id(&self) -> Option<&str> {
        self.about.job_id.as_deref()
    }

    /// The profile it is about, if known (see [`About::profile`]).
    pub fn profile(&self) -> Option<&str> {
        self.about.profile.as_deref()
    }

    /// The operation it is about, if any (see [`About::operation_id`]).
    pub fn operation_id(&self) -> Option<&str> {
        self.about.operation_id.as_deref()
    }

    /// The record as canonical JSON (made once, then shared by every subscriber and the store).
    pub fn json(&self) -> &str {
        self.json.get_or_init(|| serde_json::to_string(self).expect("events always serialise"))
    }

    /// The record as canonical JSON, owned.
    pub fn to_json(&self) -> String {
        self.json().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_is_the_events_with_seq_first_and_reads_back_the_same() {
        let e = Event::JobStarted { job_id: "j".into(), at: "t".into() };
        let about = About { job_id: Some("j".into()), ..Default::default() };
        let r = EventRecord::new(17, e.clone(), about.clone(), "now".into());
        assert_eq!(r.json(), r#"{"seq":17,"type":"job_started","job_id":"j","at":"t"}"#);
        assert_eq!(serde_json::to_string(&r).unwrap(), r.to_json());
        let back = EventRecord::from_json(17, "now".into(), about, r.to_json()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.json(), r.json());
        assert_eq!((back.seq(), back.event(), back.type_name()), (17, &e, "job_started"));
        assert!(
            EventRecord::from_json(1, "now".into(), About::default(), "{\"type\":\"x\"}".into())
                .is_none()
        );
        assert!(EventRecord::from_json(1, "now".into(), About::default(), "[".into()).is_none());
    }
}
