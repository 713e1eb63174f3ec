//! Retry policies per category, and [`retry`], which runs an operation under them: waits with backoff (the
//! service's `Retry-After` wins when longer), gives up on what cannot recover, and returns at once on cancel.
//!
//! Defaults (every value overridable per profile, by category name):
//!
//! | category | backoff | attempts | initial delay | max delay |
//! |---|---|---|---|---|
//! | network_timeout | exponential x2 | 5 | 1 s | 30 s |
//! | network_connection | exponential x2 | 5 | 500 ms | 30 s |
//! | network_dns | exponential x2 | 3 | 2 s | 30 s |
//! | service_unavailable | exponential x2 | 5 | 1 s | 60 s |
//! | rate_limited | exponential x2 | 6 | 2 s | 120 s |
//! | resource_disk | fixed | 3 | 30 s | 30 s |
//! | resource_memory | linear | 3 | 5 s | 30 s |
//! | resource_quota | fixed | 2 | 60 s | 60 s |
//! | unknown | exponential x2 | 3 | 1 s | 10 s |
//! | network_tls, permission, auth, validation, corruption, configuration | none | 1 | - | - |
//!
//! Jitter (default ±20%) spreads retries of many workers; it comes from a seeded generator so that tests are
//! reproducible.

use super::classify::{Category, classify};
use crate::cancel::CancelFlag;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// How delays grow between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Backoff {
    /// `initial * factor^(n-1)`.
    Exponential {
        /// The factor (2 doubles).
        factor: f64,
    },
    /// `initial * n`.
    Linear,
    /// `initial` every time.
    Fixed,
}

/// When and how often to retry one category of failure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Growth of the delay.
    pub backoff: Backoff,
    /// Attempts in all (1: no retry).
    pub max_attempts: u32,
    /// The first delay.
    #[serde(with = "secs")]
    pub initial_delay: Duration,
    /// The longest delay.
    #[serde(with = "secs")]
    pub max_delay: Duration,
    /// Each delay varies by up to this share either way (0.2: ±20%).
    pub jitter: f64,
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        match Duration::try_from_secs_f64(v) {
            Ok(d) if d <= crate::config::MAX_DURATION => Ok(d),
            Ok(_) => Err(serde::de::Error::custom("a delay is at most 100 years")),
            Err(_) => Err(serde::de::Error::custom("a delay is a non-negative number of seconds")),
        }
    }
}

impl RetryPolicy {
    /// No retry.
    pub const NONE: RetryPolicy = RetryPolicy {
        backoff: Backoff::Fixed,
        max_attempts: 1,
        initial_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        jitter: 0.0,
    };

    fn exp(attempts: u32, initial_ms: u64, max_s: u64) -> RetryPolicy {
        RetryPolicy {
            backoff: Backoff::Exponential { factor: 2.0 },
            max_attempts: attempts,
            initial_delay: Duration::from_millis(initial_ms),
            max_delay: Duration::from_secs(max_s),
            jitter: 0.2,
        }
    }

    /// The default policy of `category` (the table in the module docs).
    pub fn default_for(category: Category) -> RetryPolicy {
        use Category::*;
        match category {
            NetworkTimeout => Self::exp(5, 1000, 30),
            NetworkConnection => Self::exp(5, 500, 30),
            NetworkDns => Self::exp(3, 2000, 30),
            ServiceUnavailable => Self::exp(5, 1000, 60),
            RateLimited => Self::exp(6, 2000, 120),
            ResourceDisk => {
                RetryPolicy { backoff: Backoff::Fixed, max_attempts: 3, ..Self::exp(3, 30_000, 30) }
            }
            ResourceMemory => {
                RetryPolicy { backoff: Backoff::Linear, max_attempts: 3, ..Self::exp(3, 5000, 30) }
            }
            ResourceQuota => {
                RetryPolicy { backoff: Backoff::Fixed, max_attempts: 2, ..Self::exp(2, 60_000, 60) }
            }
            Unknown => Self::exp(3, 1000, 10),
            NetworkTls | Permission | Auth | Validation | Corruption | Configuration => {
                RetryPolicy::NONE
            }
        }
    }

    /// The delay before retry number `retry` (1 for the first retry), without jitter.
    pub fn base_delay(&self, retry: u32) -> Duration {
        let n = retry.max(1);
        let d = match self.backoff {
            Backoff::Exponential { factor } => {
                let exponent = i32::try_from(n - 1).unwrap_or(i32::MAX);
                saturating_mul(self.initial_delay, factor.max(1.0).powi(exponent))
            }
            Backoff::Linear => self.initial_delay.saturating_mul(n),
            Backoff::Fixed => self.initial_delay,
        };
        d.min(self.max_delay.max(self.initial_delay))
    }

    /// The delay before retry number `retry`, with jitter drawn from `rng`.
    pub fn delay(&self, retry: u32, rng: &mut fastrand::Rng) -> Duration {
        let d = self.base_delay(retry);
        if self.jitter <= 0.0 {
            return d;
        }
        let j = self.jitter.min(1.0);
        saturating_mul(d, 1.0 - j + 2.0 * j * rng.f64())
    }
}

/// `d * k` for a non-negative `k`, `Duration::MAX` when that does not fit (where `Duration::mul_f64` panics).
fn saturating_mul(d: Duration, k: f64) -> Duration {
    if d.is_zero() || k.is_nan() {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(d.as_secs_f64() * k).unwrap_or(Duration::MAX)
}

/// The policy of every category; overrides by category name (`{"rate_limited": {...}}`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RetryPolicies {
    overrides: BTreeMap<Category, RetryPolicy>,
}

impl RetryPolicies {
    /// The policy for `category`.
    pub fn get(&self, category: Category) -> RetryPolicy {
        self.overrides.get(&category).copied().unwrap_or_else(|| RetryPolicy::default_for(category))
    }

    /// Sets the policy of `category`.
    pub fn set(&mut self, category: Category, p: RetryPolicy) {
        self.overrides.insert(category, p);
    }

    /// The default attempts of every category with other delays (tests and the self-test use short or no waits).
    pub fn with_delays(initial: Duration, max: Duration, jitter: f64) -> RetryPolicies {
        let mut p = RetryPolicies::default();
        for c in Category::ALL {
            let d = RetryPolicy::default_for(c);
            if d.max_attempts > 1 {
                p.set(c, RetryPolicy { initial_delay: initial, max_delay: max, jitter, ..d });
            }
        }
        p
    }

    /// The whole table, defaults included.
    pub fn table(&self) -> BTreeMap<Category, RetryPolicy> {
        Category::ALL.iter().map(|c| (*c, self.get(*c))).collect()
    }
}

/// What [`retry`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryStats {
    /// Attempts made.
    pub attempts: u32,
    /// Time spent waiting between them.
    pub waited: Duration,
}

/// Runs `op` until it succeeds, fails with something that cannot recover, runs out of attempts, or `cancel` is
/// set (then `cancelled` at once, even in the middle of a wait). `on_retry` is told each retry before its wait.
pub async fn retry<T, F, Fut>(
    policies: &RetryPolicies,
    cancel: &CancelFlag,
    rng: &mut fastrand::Rng,
    mut on_retry: impl FnMut(u32, &Error, Duration),
    mut op: F,
) -> (Result<T>, RetryStats)
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut stats = RetryStats::default();
    loop {
        if cancel.is_cancelled() {
            return (Err(Error::cancelled()), stats);
        }
        stats.attempts += 1;
        let e = match op(stats.attempts).await {
            Ok(v) => return (Ok(v), stats),
            Err(e) => e,
        };
        let c = classify(&e);
        let policy = policies.get(c.category);
        if !c.recoverable || stats.attempts >= policy.max_attempts {
            return (Err(e), stats);
        }
        let mut wait = policy.delay(stats.attempts, rng);
        if let Some(ra) = c.retry_after {
            wait = wait.max(ra);
        }
        on_retry(stats.attempts, &e, wait);
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return (Err(Error::cancelled()), stats),
            _ = tokio::time::sleep(wait) => {}
        }
        stats.waited = stats.waited.saturating_add(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn secs(ds: &[Duration]) -> Vec<f64> {
        ds.iter().map(|d| d.as_secs_f64()).collect()
    }

    #[test]
    fn delay_sequences_without_jitter() {
        let mut rng = fastrand::Rng::with_seed(1);
        let seq = |p: RetryPolicy, rng: &mut fastrand::Rng| {
            let p = RetryPolicy { jitter: 0.0, ..p };
            (1..=7).map(|n| p.delay(n, rng)).collect::<Vec<_>>()
        };
        let exp = RetryPolicy::default_for(Category::NetworkTimeout);
        assert_eq!(secs(&seq(exp, &mut rng)), [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]);
        let lin = RetryPolicy::default_for(Category::ResourceMemory);
        assert_eq!(secs(&seq(lin, &mut rng)), [5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 30.0]);
        let fixed = RetryPolicy::default_for(Category::ResourceDisk);
        assert_eq!(secs(&seq(fixed, &mut rng)), [30.0; 7]);
        // Jitter stays within ±20% and is reproducible from the seed.
        let a: Vec<_> = (1..=5).map(|n| exp.delay(n, &mut fastrand::Rng::with_seed(9))).collect();
        let b: Vec<_> = (1..=5).map(|n| exp.delay(n, &mut fastrand::Rng::with_seed(9))).collect();
        assert_eq!(a, b);
        for (n, d) in a.iter().enumerate() {
            let base = exp.base_delay(n as u32 + 1).as_secs_f64();
            assert!((base * 0.8..=base * 1.2).contains(&d.as_secs_f64()));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_follow_the_policy_on_the_clock() {
        let policies = RetryPolicies::default();
        let cancel = CancelFlag::new();
        let mut rng = fastrand::Rng::with_seed(3);
        let start = tokio::time::Instant::now();
        let mut waits = Vec::new();
        let (r, stats) = retry(
            &policies,
            &cancel,
            &mut rng,
            |_, _, w| waits.push(w),
            |n| async move {
                if n < 4 { Err(Error::new(ErrorKind::Network, "connection reset")) } else { Ok(n) }
            },
        )
        .await;
        assert_eq!(r.unwrap(), 4);
        assert_eq!(stats.attempts, 4);
        assert_eq!(waits.len(), 3);
        // The paused clock moved by the waits (the timer rounds each sleep up to its millisecond).
        let moved = tokio::time::Instant::now() - start;
        let total = waits.iter().sum::<Duration>();
        assert!(
            moved >= total && moved - total <= Duration::from_millis(3),
            "{moved:?} vs {total:?}"
        );
        assert_eq!(stats.waited, waits.iter().sum::<Duration>());
        // Validation errors are not retried.
        let (r, stats) = retry(
            &policies,
            &cancel,
            &mut rng,
            |_, _, _| {},
            |_| async { Err::<(), _>(Error::invalid("bad path")) },
        )
        .await;
        assert_eq!((r.unwrap_err().kind(), stats.attempts), (ErrorKind::InvalidInput, 1));
        // Attempts run out.
        let (r, stats) = retry(
            &policies,
            &cancel,
            &mut rng,
            |_, _, _| {},
            |_| async { Err::<(), _>(Error::new(ErrorKind::Timeout, "timed out")) },
        )
        .await;
        assert_eq!((r.unwrap_err().kind(), stats.attempts), (ErrorKind::Timeout, 5));
        // Retry-After wins over a shorter backoff.
        let mut seen = Vec::new();
        let (_, _) = retry(
            &policies,
            &cancel,
            &mut rng,
            |_, _, w| seen.push(w),
            |n| async move {
                if n == 1 {
                    Err(Error::new(ErrorKind::Unavailable, "429 slow down")
                        .with_details(serde_json::json!({"retry_after_secs": 90})))
                } else {
                    Ok(())
                }
            },
        )
        .await;
        assert_eq!(seen, [Duration::from_secs(90)]);
    }

    #[tokio::test(start_paused = true)]
    async fn every_policy_waits_its_sequence_on_the_clock() {
        for cat in Category::ALL {
            let p = RetryPolicy { jitter: 0.0, ..RetryPolicy::default_for(cat) };
            let mut policies = RetryPolicies::default();
            policies.set(cat, p);
            let kind_msg = match cat {
                Category::NetworkTimeout => (ErrorKind::Timeout, "timed out"),
                Category::NetworkConnection => (ErrorKind::Network, "reset"),
                Category::NetworkDns => (ErrorKind::Network, "dns lookup failed"),
                Category::NetworkTls => (ErrorKind::Network, "tls handshake"),
                Category::ServiceUnavailable => (ErrorKind::Unavailable, "503"),
                Category::RateLimited => (ErrorKind::Unavailable, "429"),
                Category::ResourceDisk => (ErrorKind::Resource, "no space"),
                Category::ResourceMemory => (ErrorKind::Resource, "out of memory"),
                Category::ResourceQuota => (ErrorKind::Resource, "quota"),
                Category::Permission => (ErrorKind::Permission, "denied"),
                Category::Auth => (ErrorKind::Auth, "expired"),
                Category::Validation => (ErrorKind::InvalidInput, "bad"),
                Category::Corruption => (ErrorKind::Corrupt, "checksum"),
                Category::Configuration => (ErrorKind::FeatureDisabled, "off"),
                Category::Unknown => (ErrorKind::Internal, "?"),
            };
            let mut waits = Vec::new();
            let mut at = Vec::new();
            let start = tokio::time::Instant::now();
            let (r, stats) = retry(
                &policies,
                &CancelFlag::new(),
                &mut fastrand::Rng::with_seed(1),
                |_, _, w| waits.push(w),
                |_| {
                    at.push(tokio::time::Instant::now() - start);
                    async move { Err::<(), _>(Error::new(kind_msg.0, kind_msg.1)) }
                },
            )
            .await;
            assert!(r.is_err());
            assert_eq!(stats.attempts, p.max_attempts, "{cat:?}");
            let expected: Vec<Duration> = (1..p.max_attempts).map(|n| p.base_delay(n)).collect();
            assert_eq!(waits, expected, "{cat:?}");
            // Each attempt started when the waits before it had passed on the clock.
            for (i, t) in at.iter().enumerate().skip(1) {
                let due: Duration = expected[..i].iter().sum();
                assert!(
                    *t >= due && *t - due <= Duration::from_millis(i as u64),
                    "{cat:?} attempt {}",
                    i + 1
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_during_backoff_returns_at_once() {
        let mut policies = RetryPolicies::default();
        policies.set(
            Category::ServiceUnavailable,
            RetryPolicy {
                initial_delay: Duration::from_secs(3600),
                max_delay: Duration::from_secs(3600),
                ..RetryPolicy::default_for(Category::ServiceUnavailable)
            },
        );
        let cancel = CancelFlag::new();
        let c2 = cancel.clone();
        let mut rng = fastrand::Rng::with_seed(5);
        let start = tokio::time::Instant::now();
        let (r, stats) = retry(
            &policies,
            &cancel,
            &mut rng,
            |_, _, _| c2.cancel(),
            |_| async { Err::<(), _>(Error::new(ErrorKind::Unavailable, "503")) },
        )
        .await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
        assert_eq!(stats.attempts, 1);
        assert_eq!(tokio::time::Instant::now(), start, "no time passed waiting");
    }

    #[test]
    fn overrides_by_category_name() {
        let p: RetryPolicies = serde_json::from_str(
            r#"{"rate_limited": {"backoff": {"type": "linear"}, "max_attempts": 2, "initial_delay": 0.5, "max_delay": 1, "jitter": 0}}"#,
        )
        .unwrap();
        assert_eq!(p.get(Category::RateLimited).max_attempts, 2);
        assert_eq!(p.get(Category::NetworkDns), RetryPolicy::default_for(Category::NetworkDns));
        assert_eq!(p.table().len(), Category::ALL.len());
    }

    #[test]
    fn delays_out_of_range_are_refused_and_huge_factors_saturate() {
        let policy = |delay: &str| {
            serde_json::from_str::<RetryPolicies>(&format!(
                r#"{{"unknown": {{"backoff": {{"type": "fixed"}}, "max_attempts": 2, "initial_delay": {delay}, "max_delay": 1, "jitter": 0}}}}"#
            ))
        };
        for bad in ["1e20", "1e300", "-1", "3.2e9"] {
            let e = policy(bad).unwrap_err().to_string();
            assert!(e.contains("delay"), "{bad}: {e}");
        }
        assert_eq!(
            policy("3e9").unwrap().get(Category::Unknown).initial_delay,
            Duration::from_secs(3_000_000_000)
        );
        let p = RetryPolicy {
            backoff: Backoff::Exponential { factor: 1e300 },
            max_attempts: u32::MAX,
            initial_delay: crate::config::MAX_DURATION,
            max_delay: Duration::MAX,
            jitter: 1.0,
        };
        assert_eq!(p.base_delay(u32::MAX), Duration::MAX);
        // Jitter above 1x of the largest delay saturates instead of panicking.
        let delays: Vec<Duration> =
            (0..64).map(|seed| p.delay(2, &mut fastrand::Rng::with_seed(seed))).collect();
        assert!(delays.contains(&Duration::MAX), "{delays:?}");
        let inf = RetryPolicy { backoff: Backoff::Exponential { factor: f64::INFINITY }, ..p };
        assert_eq!(inf.base_delay(1), crate::config::MAX_DURATION);
        let zero = RetryPolicy { initial_delay: Duration::ZERO, ..inf };
        assert_eq!(zero.base_delay(3), Duration::ZERO);
    }
}
