//! The profile commands: run, run-all, status, unlock, logs, usage, schedule.

use crate::{cancel_on_signal, finish_job, progress_bar, update_bar};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use syncwright::config::Config;
use syncwright::locks::{LockDir, LockState, LockStatus};
use syncwright::logs::LogLevel;
use syncwright::progress::ProgressSnapshot;
use syncwright::{Engine, EngineConfig, Error, ErrorKind};

/// What the profile commands share: the config file and the state directory given on the command line.
pub(crate) struct Ctx {
    pub config: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
}

impl Ctx {
    fn load(&self) -> Result<Config, Error> {
        let p = self.config.as_deref().ok_or_else(|| {
            Error::invalid(
                "no config: pass --config FILE (or set SYNCWRIGHT_CONFIG) to use profiles",
            )
        })?;
        Config::load(p)
    }

    /// The engine that owns the config (its `[settings]` resolved by core; `--state-dir` overrides).
    fn engine(&self, config: &Config) -> Result<Engine, Error> {
        crate::opened(Engine::with_config(
            config.clone(),
            EngineConfig { state_dir: self.state_dir.clone(), ..Default::default() },
        ))
    }

    pub fn run(&self, profile: &str, json: bool, no_progress: bool) -> Result<ExitCode, Error> {
        let config = self.load()?;
        let engine = self.engine(&config)?;
        let bar = (!no_progress && !json && std::io::stderr().is_terminal()).then(progress_bar);
        let cb = bar.clone().map(|b| {
            Arc::new(move |s: &ProgressSnapshot| update_bar(&b, s))
                as syncwright::progress::ProgressCallback
        });
        let cancel = cancel_on_signal();
        let job = engine.run_profile(profile, cb)?;
        if !json {
            eprintln!("syncwright: {} started (job {})", job.info().sync_id, job.id());
        }
        finish_job(job, cancel, bar, json)
    }

    pub fn run_all(&self, json: bool) -> Result<ExitCode, Error> {
        let config = self.load()?;
        let engine = self.engine(&config)?;
        let all = engine.run_all();
        if json {
            println!("{}", serde_json::to_string(&all).map_err(Error::from)?);
        } else {
            for (name, r) in &all.results {
                match r {
                    syncwright::engine::ProfileResult::Report(rep) => {
                        let s = &rep.stats;
                        let why = rep
                            .fatal
                            .as_ref()
                            .map(|f| format!(": {}", f.error))
                            .unwrap_or_default();
                        println!(
                            "{name}: {} ({} created, {} updated, {} deleted, {} errors){why}",
                            rep.status.as_str(),
                            s.created,
                            s.updated,
                            s.deleted,
                            s.errors
                        );
                    }
                    syncwright::engine::ProfileResult::Error { kind, error } => {
                        println!("{name}: {kind}: {error}")
                    }
                }
            }
            println!("{} of {} profiles completed", all.successful.len(), all.total);
        }
        Ok(ExitCode::from(if all.failed.is_empty() { 0 } else { 3 }))
    }

    pub fn status(&self, json: bool) -> Result<ExitCode, Error> {
        let config = self.load()?;
        let engine = self.engine(&config)?;
        let locks = engine.profile_locks()?;
        let mut out = Vec::new();
        for (l, (name, p)) in locks.iter().zip(&config.profiles) {
            let last = match engine.store() {
                Some(s) => s.runs(Some(name), 1)?.into_iter().next(),
                None => None,
            };
            let running = l.lock.as_ref().is_some_and(|l| l.state == LockState::Held);
            out.push(serde_json::json!({
                "profile": name,
                "source": p.source,
                "destination": p.destination,
                "command": p.command,
                "interval_secs": p.interval.as_ref().and_then(|i| i.get().ok()).map(|d| d.as_secs_f64()),
                "running": running,
                "lock": l.lock,
                "destination_lock": l.destination_lock,
                "destination_lock_error": l.destination_error,
                "last_run": last,
            }));
        }
        if json {
            println!("{}", serde_json::to_string(&out).map_err(Error::from)?);
            return Ok(ExitCode::SUCCESS);
        }
        let holder = |l: &LockStatus| {
            let i = &l.info;
            let by = match (&i.profile, &i.job_id) {
                (Some(p), Some(j)) => format!("profile {p}, job {j}"),
                (None, Some(j)) => format!("job {j}"),
                _ => "a run".to_string(),
            };
            format!("{by}, since {}, pid {} on {}", i.started_at, i.pid, i.host)
        };
        for (v, l) in out.iter().zip(&locks) {
            let name = v["profile"].as_str().unwrap_or_default();
            let mut state = match &l.lock {
                Some(lk) if lk.state == LockState::Held => format!(
                    "running (job {}, since {})",
                    lk.info.job_id.as_deref().unwrap_or("-"),
                    lk.info.started_at
                ),
                Some(LockStatus { state: LockState::Stale { reason }, .. }) => {
                    format!("idle (stale lock: {reason})")
                }
                _ => "idle".to_string(),
            };
            // Its destination written by another run (a plain sync, another profile).
            let mine = l.lock.as_ref().and_then(|p| p.info.job_id.clone());
            match &l.destination_lock {
                Some(d) if d.state == LockState::Held && d.info.job_id != mine => {
                    state += &format!("; destination busy ({})", holder(d));
                }
                Some(LockStatus { state: LockState::Stale { reason }, .. }) => {
                    state += &format!("; stale destination lock ({reason})");
                }
                _ => {}
            }
            if let Some(e) = &l.destination_error {
                state += &format!("; destination lock unknown ({e})");
            }
            let last = match v["last_run"].as_object() {
                Some(r) => format!(
                    "last run {} at {} ({} ms){}",
                    r["status"].as_str().unwrap_or(""),
                    r["started_at"].as_str().unwrap_or(""),
                    r["duration_ms"].as_u64().unwrap_or(0),
                    r["error"].as_str().map(|e| format!(": {e}")).unwrap_or_default()
                ),
                None => "never run".to_string(),
            };
            println!("{name}: {state}; {last}");
        }
        Ok(ExitCode::SUCCESS)
    }

    pub fn unlock(&self, profile: Option<&str>, all: bool, test: bool) -> Result<ExitCode, Error> {
        let config = self.load()?;
        if test {
            let locks = LockDir::new(config.coordination_dir());
            for step in locks.self_test("lock-self-test")? {
                println!("ok: {step}");
            }
            println!("locking works in {}", locks.location());
            return Ok(ExitCode::SUCCESS);
        }
        let which = match (profile, all) {
            (_, true) => None,
            (Some(p), false) => Some(p),
            (None, false) => return Err(Error::invalid("name a profile, or pass --all")),
        };
        let engine = self.engine(&config)?;
        let r = engine.unlock(which)?;
        if r.removed.is_empty() && r.errors.is_empty() {
            println!("no locks to remove");
        }
        for l in &r.removed {
            println!("removed lock {} in {}", l.name, l.location);
        }
        for e in &r.errors {
            eprintln!("syncwright: error: {e}");
        }
        Ok(if r.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
    }

    pub fn logs(
        &self,
        profile: &str,
        lines: usize,
        level: Option<&str>,
        page: Option<usize>,
        per_page: usize,
        json: bool,
    ) -> Result<ExitCode, Error> {
        let config = self.load()?;
        config.profile(profile)?;
        let engine = self.engine(&config)?;
        let level: Option<LogLevel> = level
            .map(|l| {
                serde_json::from_value(serde_json::Value::String(l.to_string())).map_err(|_| {
                    Error::invalid(format!("{l:?} is not a level (debug, info, warning, error)"))
                })
            })
            .transpose()?;
        let entries = match page {
            Some(p) => {
                let pg = engine.logs().page(profile, p, per_page, level)?;
                if json {
                    println!("{}", serde_json::to_string(&pg).map_err(Error::from)?);
                    return Ok(ExitCode::SUCCESS);
                }
                pg.logs
            }
            None => {
                let all = engine.logs().read_all(profile)?;
                let mut kept: Vec<_> =
                    all.into_iter().filter(|e| level.is_none_or(|l| e.level == l)).collect();
                let skip = kept.len().saturating_sub(lines);
                kept.split_off(skip)
            }
        };
        for e in entries {
            if json {
                println!("{}", serde_json::to_string(&e).map_err(Error::from)?);
            } else {
                let lvl = serde_json::to_value(e.level)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                println!("{} {:<7} {}", e.timestamp, lvl, e.message);
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    pub fn usage(
        &self,
        models: Option<PathBuf>,
        root: Option<PathBuf>,
        json: bool,
    ) -> Result<ExitCode, Error> {
        let config = self.config.as_ref().map(|_| self.load()).transpose()?;
        if models.is_none() && root.is_none() && config.is_none() {
            return Err(Error::invalid("name --models DIR or --root DIR, or pass --config FILE"));
        }
        let u = syncwright::usage::storage_usage(
            &syncwright::usage::UsageQuery { models_root: models, root },
            config.as_ref(),
        )?;
        if json {
            println!("{}", serde_json::to_string(&u).map_err(Error::from)?);
            return Ok(ExitCode::SUCCESS);
        }
        println!("total: {}", u.total_human_readable);
        for (title, map) in
            [("by type", &u.by_type), ("by profile", &u.by_project), ("by folder", &u.by_folder)]
        {
            if !map.is_empty() {
                println!("{title}:");
                for (k, v) in map {
                    println!("  {k:<24} {:>12}", v.human_readable);
                }
            }
        }
        if let Some(d) = &u.disk {
            println!(
                "disk: {} used of {} ({:.1}%), {} free",
                d.used_human_readable, d.total_human_readable, d.percent, d.free_human_readable
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    pub fn schedule(&self) -> Result<ExitCode, Error> {
        let config = self.load()?;
        let engine = Arc::new(self.engine(&config)?);
        let sched = syncwright::jobs::schedule::Scheduler::start(engine.clone())?;
        if sched.profiles().is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "no profile of the config has an interval",
            ));
        }
        eprintln!("syncwright: scheduling {}; Ctrl-C stops", sched.profiles().join(", "));
        let stop = cancel_on_signal();
        let sub = engine.subscribe();
        // Wait for the signal; print what finishes meanwhile.
        loop {
            let next = sub.next_blocking(Some(std::time::Duration::from_millis(500)));
            if let Some(e) = next
                && let syncwright::events::Event::JobFinished { job_id, status, .. } = e.event()
            {
                let p =
                    engine.job(job_id).and_then(|j| j.info().profile.clone()).unwrap_or_default();
                eprintln!("syncwright: {p}: {}", status.as_str());
            }
            if stop.fired() {
                break;
            }
        }
        sched.stop();
        for j in engine.active_jobs() {
            j.cancel();
            j.wait(None);
        }
        Ok(ExitCode::SUCCESS)
    }
}
