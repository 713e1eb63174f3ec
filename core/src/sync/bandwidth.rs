//! A token bucket shared by all transfers of a run.

use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Limits bytes per second across all callers.
#[derive(Debug)]
pub struct Bandwidth {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bandwidth {
    /// A limiter of `bytes_per_sec`, allowing bursts of a tenth of a second (at least `min_burst` bytes).
    pub fn new(bytes_per_sec: u64, min_burst: usize) -> Bandwidth {
        let rate = bytes_per_sec as f64;
        let burst = (rate / 10.0).max(min_burst as f64);
        Bandwidth { rate, burst, state: Mutex::new((burst, Instant::now())) }
    }

    /// Waits until `n` bytes may pass.
    pub async fn acquire(&self, n: usize) {
        let wait = {
            let mut s = self.state.lock().await;
            let now = Instant::now();
            let (tokens, last) = *s;
            let tokens = (tokens + now.duration_since(last).as_secs_f64() * self.rate)
                .min(self.burst)
                - n as f64;
            *s = (tokens, now);
            if tokens >= 0.0 { None } else { Some(Duration::from_secs_f64(-tokens / self.rate)) }
        };
        if let Some(w) = wait {
            tokio::time::sleep(w).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn limits_to_the_rate() {
        let b = Bandwidth::new(1000, 100);
        let t0 = Instant::now();
        for _ in 0..30 {
            b.acquire(100).await;
        }
        // 3,000 bytes at 1,000 B/s with a 100-byte burst: 2.9 s on the paused clock.
        let took = t0.elapsed().as_secs_f64();
        assert!((2.85..=2.95).contains(&took), "{took}");
    }
}
