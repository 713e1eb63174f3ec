//! Profiles with an `interval` run by themselves: one loop per profile waits the interval (give or take a tenth,
//! so that pods started together do not hit the volume together), runs the profile, waits for that run to end,
//! and goes round again. A profile never overlaps itself; a run already going elsewhere (its lock is held) skips
//! that turn, and the log says so.

use crate::engine::Engine;
use crate::logs::{LogEntry, LogLevel};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Running schedules; dropping it (or [`Scheduler::stop`]) stops them. A run under way finishes.
#[derive(Debug)]
pub struct Scheduler {
    stop: Arc<AtomicBool>,
    wake: Arc<tokio::sync::Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    profiles: Vec<String>,
}

impl Scheduler {
    /// Starts a loop for every profile of `config` that has an interval.
    pub fn start(engine: Arc<Engine>) -> crate::Result<Scheduler> {
        let config = engine.config().clone();
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        let mut profiles = Vec::new();
        for (name, p) in &config.profiles {
            let Some(every) = p.interval.as_ref().map(|i| i.get()).transpose()? else { continue };
            if every.is_zero() {
                return Err(crate::Error::invalid(format!(
                    "profile {name}: interval must be more than 0"
                )));
            }
            profiles.push(name.clone());
            let (engine2, stop, wake, name) =
                (engine.clone(), stop.clone(), wake.clone(), name.clone());
            tasks.push(engine.spawn(async move {
                loop {
                    let jitter = 0.9 + 0.2 * fastrand::f64();
                    let pause = every.mul_f64(jitter);
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = wake.notified() => {}
                    }
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    match engine2.run_profile(&name, None) {
                        Ok(job) => {
                            job.wait_async().await;
                        }
                        Err(e) => {
                            let level = if e.kind() == crate::ErrorKind::Conflict {
                                LogLevel::Info
                            } else {
                                LogLevel::Error
                            };
                            let msg = format!("scheduled run skipped: {}", e.message());
                            let data = e.details().cloned().unwrap_or_default();
                            let _ = engine2.logs().append(&name, LogEntry::now(level, msg, data));
                        }
                    }
                }
            }));
        }
        Ok(Scheduler { stop, wake, tasks, profiles })
    }

    /// The profiles being scheduled.
    pub fn profiles(&self) -> &[String] {
        &self.profiles
    }

    /// Stops every loop (a run under way goes on to its end).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.halt();
    }
}
