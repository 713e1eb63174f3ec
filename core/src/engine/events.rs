//! Events at the front door: a subscription that replays what a subscriber missed, then follows live, filtered.
//! The numbering, keeping and replay are [`crate::events`]'s.

use super::EngineCore;
use crate::error::Result;
use crate::events::{EventFilter, Subscription};

impl EngineCore {
    /// A subscription to this engine's events that `filter` takes (by job, profile, operation, type; the empty
    /// filter takes all). With `since` = N, the last `seq` the subscriber saw (0: everything kept), it first
    /// delivers every kept event with `seq` > N in order, then the live ones, with no gap and no duplicate
    /// between the two; without `since`, the live ones only (as [`EngineCore::subscribe`](super::EngineCore::subscribe), filtered).
    ///
    /// Events are kept for `[settings] event_retention` (default 24h), at most `event_retention_max` (default
    /// 100000), in the embedded store, or in memory for an engine without one. `seq` only grows, across
    /// restarts and a rebuilt store too. Blocks while it reads the kept events.
    ///
    /// Errors, all `invalid_input`: a filter with an unknown type; a `since` whose following events are no
    /// longer kept (pruned, or gone with a damaged store or a crash), or beyond the latest `seq`, whose details
    /// are `{"since": N, "oldest_seq": <oldest kept or null>, "latest_seq": <latest>}` (subscribing again from
    /// `latest_seq` always works).
    pub fn subscribe_from(&self, since: Option<u64>, filter: EventFilter) -> Result<Subscription> {
        self.events.subscribe_from(since, filter)
    }
}
