//! Circuit breakers per target (a host, a bucket, a drive). A breaker opens after N consecutive failures or a
//! failure rate over a window, stays open for a cool-down (work on that target waits instead of burning attempts),
//! then lets a bounded number of probes through (half-open): a probe that succeeds closes it, one that fails opens
//! it again. Every transition is reported with its target, state and the time left open. The engine keeps one
//! breaker per target for all its jobs ([`super::registry::BreakerRegistry`]).

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// When a breaker opens and for how long (`[settings.breaker]`, see [`super::registry::BreakerSettings`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures that open it.
    pub failure_threshold: u32,
    /// Share of failures over the window that opens it (with at least `min_calls` calls in the window).
    pub failure_rate: f64,
    /// The window, in seconds.
    pub window_secs: f64,
    /// Calls needed in the window before the rate counts.
    pub min_calls: u32,
    /// How long it stays open, in seconds.
    pub cooldown_secs: f64,
    /// Probes let through while half-open.
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            failure_rate: 0.5,
            window_secs: 60.0,
            min_calls: 20,
            cooldown_secs: 30.0,
            half_open_probes: 1,
        }
    }
}

impl BreakerConfig {
    /// Checks that the window and the cool-down are durations syncwright can wait (0 to 100 years) and that the
    /// failure rate is a number; `invalid_input` otherwise.
    pub fn validate(&self) -> crate::Result<()> {
        for (name, v) in [("window_secs", self.window_secs), ("cooldown_secs", self.cooldown_secs)]
        {
            if Duration::try_from_secs_f64(v).map_or(true, |d| d > crate::config::MAX_DURATION) {
                return Err(crate::Error::invalid(format!(
                    "breaker {name} must be between 0 and 100 years of seconds, not {v}"
                )));
            }
        }
        if self.failure_rate.is_nan() {
            return Err(crate::Error::invalid("breaker failure_rate must be a number"));
        }
        Ok(())
    }
}

/// `secs` as a duration: 0 when negative or not a number, at most [`crate::config::MAX_DURATION`] (a config
/// that skipped [`BreakerConfig::validate`] cannot panic the breaker).
fn secs(v: f64) -> Duration {
    if v.is_nan() || v <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(v).unwrap_or(Duration::MAX).min(crate::config::MAX_DURATION)
}

/// Whether `e` says the link to a target failed (rather than the target answering with an error).
pub fn is_link_failure(e: &crate::Error) -> bool {
    use super::Category::*;
    matches!(
        super::classify(e).category,
        NetworkTimeout | NetworkConnection | NetworkDns | ServiceUnavailable | RateLimited
    )
}

/// The state of a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls wait for the cool-down.
    Open,
    /// A few probes go through.
    HalfOpen,
}

/// A change of state, for the event bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakerTransition {
    /// The target.
    pub target: String,
    /// From.
    pub from: BreakerState,
    /// To.
    pub to: BreakerState,
    /// Seconds left open (0 unless open).
    pub timeout_remaining: f64,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive: u32,
    window: VecDeque<(Instant, bool)>,
    opened_until: Option<Instant>,
    /// When it last opened, by the wall clock (for listings).
    opened_at: Option<chrono::DateTime<chrono::Utc>>,
    probes: u32,
    trips: u64,
}

/// A breaker as listed (`Engine::breakers`): its target, state, failures and the config in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakerStatus {
    /// The target (`sftp://user@host:port`, `s3://bucket`, `gdrive://account`).
    pub target: String,
    /// The state now (an open breaker whose cool-down passed is half-open).
    pub state: BreakerState,
    /// Failures in a row so far.
    pub consecutive_failures: u32,
    /// Times it opened.
    pub trips: u64,
    /// When it last opened (RFC 3339), while it is open or half-open.
    pub opened_at: Option<String>,
    /// When the cool-down ends and a probe may go (RFC 3339), while it is open.
    pub next_probe_at: Option<String>,
    /// Seconds left open (0 unless open).
    pub timeout_remaining: f64,
    /// The config in force for this target (the defaults with the target's override).
    pub config: BreakerConfig,
}

/// A breaker for one target.
pub struct CircuitBreaker {
    target: String,
    cfg: BreakerConfig,
    inner: Mutex<Inner>,
    on_transition: Option<TransitionCallback>,
}

/// Whether a call may go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go (a probe when half-open).
    Go,
    /// Wait this long, then ask again.
    Wait(Duration),
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("target", &self.target)
            .field("state", &self.lock().state)
            .finish()
    }
}

/// Hears breaker transitions.
pub type TransitionCallback = Arc<dyn Fn(&BreakerTransition) + Send + Sync>;

impl CircuitBreaker {
    /// A closed breaker for `target`; `on_transition` hears every change of state.
    pub fn new(
        target: impl Into<String>,
        cfg: BreakerConfig,
        on_transition: Option<TransitionCallback>,
    ) -> CircuitBreaker {
        CircuitBreaker {
            target: target.into(),
            cfg,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive: 0,
                window: VecDeque::new(),
                opened_until: None,
                opened_at: None,
                probes: 0,
                trips: 0,
            }),
            on_transition,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state now (an open breaker whose cool-down passed is half-open).
    pub fn state(&self) -> BreakerState {
        let mut g = self.lock();
        self.tick(&mut g);
        g.state
    }

    /// How many times it opened.
    pub fn trips(&self) -> u64 {
        self.lock().trips
    }

    /// The target.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The config in force.
    pub fn config(&self) -> BreakerConfig {
        self.cfg
    }

    /// The breaker as listed now.
    pub fn status(&self) -> BreakerStatus {
        let mut g = self.lock();
        self.tick(&mut g);
        let rfc = |t: chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        let open = g.state == BreakerState::Open;
        let remaining = match (open, g.opened_until) {
            (true, Some(t)) => t.saturating_duration_since(Instant::now()),
            _ => Duration::ZERO,
        };
        BreakerStatus {
            target: self.target.clone(),
            state: g.state,
            consecutive_failures: g.consecutive,
            trips: g.trips,
            opened_at: g.opened_at.filter(|_| g.state != BreakerState::Closed).map(rfc),
            next_probe_at: open
                .then(|| chrono::Duration::from_std(remaining).ok())
                .flatten()
                .map(|d| rfc(chrono::Utc::now() + d)),
            timeout_remaining: remaining.as_secs_f64(),
            config: self.cfg,
        }
    }

    fn set(&self, g: &mut Inner, to: BreakerState) {
        if g.state == to {
            return;
        }
        let from = g.state;
        g.state = to;
        if to == BreakerState::Open {
            g.trips += 1;
            g.opened_until = Some(Instant::now() + secs(self.cfg.cooldown_secs));
            g.opened_at = Some(chrono::Utc::now());
        }
        if to != BreakerState::HalfOpen {
            g.probes = 0;
        }
        if let Some(cb) = &self.on_transition {
            let timeout_remaining = match (to, g.opened_until) {
                (BreakerState::Open, Some(t)) => {
                    t.saturating_duration_since(Instant::now()).as_secs_f64()
                }
                _ => 0.0,
            };
            cb(&BreakerTransition { target: self.target.clone(), from, to, timeout_remaining });
        }
    }

    fn tick(&self, g: &mut Inner) {
        if g.state == BreakerState::Open && g.opened_until.is_some_and(|t| Instant::now() >= t) {
            self.set(g, BreakerState::HalfOpen);
        }
    }

    /// Asks to make a call.
    pub fn admit(&self) -> Admission {
        let mut g = self.lock();
        self.tick(&mut g);
        match g.state {
            BreakerState::Closed => Admission::Go,
            BreakerState::Open => Admission::Wait(
                g.opened_until
                    .map(|t| t.saturating_duration_since(Instant::now()))
                    .unwrap_or_default(),
            ),
            BreakerState::HalfOpen if g.probes < self.cfg.half_open_probes.max(1) => {
                g.probes += 1;
                Admission::Go
            }
            // Probes are out: wait a little for their answer.
            BreakerState::HalfOpen => Admission::Wait(Duration::from_millis(100)),
        }
    }

    /// Admits a call now or refuses it at once: while the breaker is open (or its probes are out) the refusal is
    /// an `unavailable` error whose details carry `target`, `state`, `consecutive_failures` and
    /// `retry_after_secs` (the time left before a probe may go), so that whoever retries waits that long.
    pub fn check(&self) -> crate::Result<()> {
        let wait = match self.admit() {
            Admission::Go => return Ok(()),
            Admission::Wait(d) => d,
        };
        let (state, consecutive) = {
            let g = self.lock();
            (g.state, g.consecutive)
        };
        // Whole milliseconds, rounded up: who waits this long finds the cool-down over.
        let secs = (wait.as_secs_f64() * 1000.0).ceil() / 1000.0;
        let msg = match state {
            BreakerState::HalfOpen => format!(
                "the circuit breaker of {} is half-open and its probe is under way: no other call goes there \
                 until it answers (try again in {secs:.1} s)",
                self.target
            ),
            _ => format!(
                "the circuit breaker of {} is open after {consecutive} failures in a row: no call goes there \
                 for {secs:.1} s (then one probe)",
                self.target
            ),
        };
        Err(crate::Error::new(crate::ErrorKind::Unavailable, msg).with_details(serde_json::json!({
            "target": self.target,
            "state": state,
            "consecutive_failures": consecutive,
            "retry_after_secs": secs,
        })))
    }

    /// Gives back a probe that was admitted but made no call that tells (it was cancelled): another may go.
    pub fn release(&self) {
        let mut g = self.lock();
        if g.state == BreakerState::HalfOpen {
            g.probes = g.probes.saturating_sub(1);
        }
    }

    /// Waits until a call may go (or `cancel` is set: then false).
    pub async fn wait_admitted(&self, cancel: &crate::cancel::CancelFlag) -> bool {
        loop {
            match self.admit() {
                Admission::Go => return true,
                Admission::Wait(d) => {
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return false,
                        _ = tokio::time::sleep(d) => {}
                    }
                }
            }
        }
    }

    /// Reports how a call went from its result: a failure of the link (time-outs, refused or broken
    /// connections, DNS, a service unavailable or asking to slow down) counts against the target; any other
    /// answer, an error included (a missing file, access refused), shows the target is there; a cancelled call
    /// tells nothing and gives its probe back.
    pub fn record_result<T>(&self, r: &crate::Result<T>) {
        match r {
            Ok(_) => self.record(true),
            Err(e) if e.kind() == crate::ErrorKind::Cancelled => self.release(),
            Err(e) => self.record(!is_link_failure(e)),
        }
    }

    /// Reports how a call went.
    pub fn record(&self, ok: bool) {
        let mut g = self.lock();
        self.tick(&mut g);
        let now = Instant::now();
        let window = secs(self.cfg.window_secs);
        g.window.push_back((now, ok));
        while g.window.front().is_some_and(|(t, _)| now.duration_since(*t) > window) {
            g.window.pop_front();
        }
        if ok {
            g.consecutive = 0;
            if g.state == BreakerState::HalfOpen {
                g.window.clear();
                self.set(&mut g, BreakerState::Closed);
            }
            return;
        }
        g.consecutive += 1;
        match g.state {
            BreakerState::HalfOpen => self.set(&mut g, BreakerState::Open),
            BreakerState::Closed => {
                let calls = g.window.len() as u32;
                let failures = g.window.iter().filter(|(_, ok)| !ok).count() as f64;
                let rate_trip =
                    calls >= self.cfg.min_calls && failures / calls as f64 >= self.cfg.failure_rate;
                if g.consecutive >= self.cfg.failure_threshold || rate_trip {
                    self.set(&mut g, BreakerState::Open);
                }
            }
            BreakerState::Open => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            failure_threshold: 3,
            cooldown_secs: 10.0,
            half_open_probes: 1,
            min_calls: 10,
            ..Default::default()
        }
    }

    #[test]
    fn out_of_range_windows_and_cool_downs_are_refused_and_never_panic() {
        for (window, cooldown) in [(1e20, 1.0), (1.0, -1.0), (f64::NAN, 1.0), (1.0, f64::INFINITY)]
        {
            let c = BreakerConfig { window_secs: window, cooldown_secs: cooldown, ..cfg() };
            let e = c.validate().unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{window} {cooldown}");
            // Unvalidated (a config built in code), the breaker still opens without panicking.
            let b = CircuitBreaker::new("t", c, None);
            for _ in 0..3 {
                b.record(false);
            }
            assert_eq!(b.trips(), 1);
        }
        assert!(BreakerConfig { failure_rate: f64::NAN, ..cfg() }.validate().is_err());
        cfg().validate().unwrap();
        assert_eq!(secs(1e30), crate::config::MAX_DURATION);
        assert_eq!(secs(-2.0), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn opens_cools_down_probes_and_closes() {
        let seen: Arc<Mutex<Vec<BreakerTransition>>> = Arc::default();
        let s = seen.clone();
        let b = CircuitBreaker::new(
            "sftp://pod-1",
            cfg(),
            Some(Arc::new(move |t: &BreakerTransition| s.lock().unwrap().push(t.clone()))),
        );
        for _ in 0..2 {
            b.record(false);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.record(false);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.admit(), Admission::Wait(Duration::from_secs(10)));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(b.admit(), Admission::Wait(Duration::from_secs(6)));
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(b.admit(), Admission::Go, "one probe");
        assert!(matches!(b.admit(), Admission::Wait(_)), "only one probe at a time");
        b.record(false);
        assert_eq!(b.state(), BreakerState::Open, "a failed probe opens it again");
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.admit(), Admission::Go);
        b.record(true);
        assert_eq!(b.state(), BreakerState::Closed);
        let t = seen.lock().unwrap().clone();
        let states: Vec<_> = t.iter().map(|t| (t.from, t.to)).collect();
        use BreakerState::*;
        assert_eq!(
            states,
            [
                (Closed, Open),
                (Open, HalfOpen),
                (HalfOpen, Open),
                (Open, HalfOpen),
                (HalfOpen, Closed)
            ]
        );
        assert_eq!(t[0].timeout_remaining, 10.0);
        assert_eq!(t[0].target, "sftp://pod-1");
        assert_eq!(b.trips(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_says_when_to_come_back_and_probes_go_back_when_unused() {
        let b = CircuitBreaker::new("sftp://u@nas:22", cfg(), None);
        b.check().unwrap();
        let link = || crate::Error::new(crate::ErrorKind::Network, "connection refused");
        for _ in 0..3 {
            b.record_result::<()>(&Err(link()));
        }
        let e = b.check().unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Unavailable);
        let d = e.details().unwrap();
        assert_eq!(
            (d["target"].as_str(), d["state"].as_str()),
            (Some("sftp://u@nas:22"), Some("open"))
        );
        assert_eq!(
            (d["consecutive_failures"].as_u64(), d["retry_after_secs"].as_f64()),
            (Some(3), Some(10.0))
        );
        assert!(
            e.message().contains("sftp://u@nas:22") && e.message().contains("10.0 s"),
            "{}",
            e.message()
        );
        let c = crate::recovery::classify(&e);
        assert_eq!(c.category, crate::recovery::Category::ServiceUnavailable, "{}", e.message());
        assert_eq!((c.recoverable, c.retry_after), (true, Some(Duration::from_secs(10))));
        let s = b.status();
        assert_eq!((s.state, s.consecutive_failures, s.trips), (BreakerState::Open, 3, 1));
        assert!(s.opened_at.is_some() && s.next_probe_at.is_some() && s.timeout_remaining == 10.0);
        tokio::time::advance(Duration::from_secs(10)).await;
        b.check().unwrap(); // the probe
        let e = b.check().unwrap_err();
        assert_eq!(e.details().unwrap()["state"], "half_open");
        // A cancelled probe tells nothing: it goes back, and another may go.
        b.record_result::<()>(&Err(crate::Error::cancelled()));
        b.check().unwrap();
        // An answer, even an error, shows the target is there.
        b.record_result::<()>(&Err(crate::Error::new(crate::ErrorKind::NotFound, "no such file")));
        let s = b.status();
        assert_eq!((s.state, s.consecutive_failures, s.opened_at), (BreakerState::Closed, 0, None));
        assert!(!is_link_failure(&crate::Error::new(crate::ErrorKind::Permission, "denied")));
        assert!(is_link_failure(&crate::Error::new(
            crate::ErrorKind::Unavailable,
            "429 slow down"
        )));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_rate_over_the_window_opens_it() {
        let b = CircuitBreaker::new("s3://bucket", cfg(), None);
        for i in 0..10 {
            b.record(i % 2 == 0); // alternate: never 3 in a row, but half fail
        }
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_breaker_makes_work_wait_and_cancel_ends_the_wait() {
        let b = CircuitBreaker::new("t", cfg(), None);
        for _ in 0..3 {
            b.record(false);
        }
        let cancel = crate::cancel::CancelFlag::new();
        let start = Instant::now();
        assert!(b.wait_admitted(&cancel).await);
        assert_eq!(Instant::now() - start, Duration::from_secs(10), "waited exactly the cool-down");
        b.record(false);
        cancel.cancel();
        let start = Instant::now();
        assert!(!b.wait_admitted(&cancel).await);
        assert_eq!(Instant::now(), start);
    }
}
