//! The engine's circuit breakers: one per remote target, shared by all its jobs, listed with their state; every
//! transition is a `breaker` event (see [`crate::recovery::registry`]).

use super::EngineCore;
use crate::events::{Event, EventBus};
use crate::recovery::{BreakerRegistry, BreakerSettings, BreakerStatus, BreakerTransition};
use std::sync::Arc;

/// The registry of an engine: its breakers are configured by `settings` and announce each transition on `bus`.
pub(super) fn registry(settings: &BreakerSettings, bus: Arc<EventBus>) -> BreakerRegistry {
    BreakerRegistry::new(
        settings.clone(),
        Some(Arc::new(move |t: &BreakerTransition| {
            bus.publish(Event::Breaker { transition: t.clone() })
        })),
    )
}

impl EngineCore {
    /// The breakers of the remote targets this engine's jobs used so far (by target): state, failures in a row,
    /// trips, when it opened and when a probe may go, and the config in force.
    pub fn breakers(&self) -> Vec<BreakerStatus> {
        self.breakers.statuses()
    }

    /// The breaker settings in force (`[settings.breaker]`: the defaults and the per-target overrides).
    pub fn breaker_settings(&self) -> &BreakerSettings {
        self.breakers.settings()
    }

    /// The registry itself, for the runs this engine starts.
    pub(crate) fn breaker_registry(&self) -> &Arc<BreakerRegistry> {
        &self.breakers
    }
}
