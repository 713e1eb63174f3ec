//! The profile commands: run, run-all, status, unlock, logs, usage, schedule.

use crate::{cancel_on_signal, finish_job, progress_bar, update_bar};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use syncwright::config::Config;
use syncwright::logs::LogLevel;
use syncwright::progress::ProgressSnapshot;
use syncwright::{Engine, EngineConfig, Error, ErrorKind};

/// What the profile commands share: the config file and the state directory given on the command line.
pub(crate) struct Ctx {
    pub config: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
}

impl Ctx {
    pub(crate) fn load(&self) -> Result<Config, Error> {
        let p = self.config.as_deref().ok_or_else(|| {
            Error::invalid(
                "no config: pass --config FILE (or set SYNCWRIGHT_CONFIG) to use profiles",
            )
        })?;
        Config::load(p)
    }

    /// The engine that owns the config (its `[settings]` resolved by core; `--state-dir` overrides).
    pub(crate) fn engine(&self, config: &Config) -> Result<Engine, Error> {
        crate::opened(Engine::with_config(
            config.clone(),
            EngineConfig { state_dir: self.state_dir.clone(), ..Default::default() },
        ))
    }

    /// The engine of the config (which is required).
    pub(crate) fn engine_of_config(&self) -> Result<Engine, Error> {
        let config = self.load()?;
        self.engine(&config)
    }

    /// The engine of the config when one is given, else a plain one (the state directory's).
    pub(crate) fn engine_any(&self) -> Result<Engine, Error> {
        match &self.config {
            Some(_) => self.engine_of_config(),
            None => crate::opened(Engine::new(EngineConfig {
                state_dir: self.state_dir.clone(),
                ..Default::default()
            })),
        }
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
        let cancel = cancel_on_signal();
        let job = engine.run_all(None)?;
        cancel.set(job.clone());
        let all = job.wait(None).ok_or_else(|| Error::internal("job ended without a report"))?;
        if json {
            println!("{}", all.to_json());
        } else {
            println!("{}", all.text());
        }
        // 0 when every profile completed, 4 when cancelled, else 3.
        Ok(ExitCode::from(match all.status {
            syncwright::Status::Completed => 0,
            syncwright::Status::Cancelled => 4,
            _ => 3,
        }))
    }

    pub fn status(&self, json: bool) -> Result<ExitCode, Error> {
        let config = self.load()?;
        let engine = self.engine(&config)?;
        let all = engine.profiles_status()?;
        if json {
            println!("{}", serde_json::to_string(&all).map_err(Error::from)?);
        } else {
            for p in &all {
                println!("{}", p.text());
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    pub fn unlock(
        &self,
        profile: Option<&str>,
        all: bool,
        test: bool,
        force: bool,
    ) -> Result<ExitCode, Error> {
        let config = self.load()?;
        let engine = self.engine(&config)?;
        if test {
            let t = engine.lock_self_test("lock-self-test")?;
            for step in &t.steps {
                println!("ok: {step}");
            }
            println!("locking works in {}", t.location);
            return Ok(ExitCode::SUCCESS);
        }
        let r = match (profile, all) {
            (_, true) => engine.unlock_all(force)?,
            (Some(p), false) => engine.unlock_profile(p, force)?,
            (None, false) => return Err(Error::invalid("name a profile, or pass --all")),
        };
        if r.removed.is_empty() && r.errors.is_empty() {
            println!("no locks to remove");
        }
        for j in &r.cancelled_jobs {
            println!("cancelled job {j} (it held the lock)");
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
                let pg = engine.profile_log_page(profile, p, per_page, level)?;
                if json {
                    println!("{}", serde_json::to_string(&pg).map_err(Error::from)?);
                    return Ok(ExitCode::SUCCESS);
                }
                pg.logs
            }
            None => engine.profile_log_tail(profile, lines, level)?,
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
        let engine = match &config {
            Some(c) => self.engine(c)?,
            None => crate::opened(Engine::new(EngineConfig {
                state_dir: self.state_dir.clone(),
                ..Default::default()
            }))?,
        };
        let u =
            engine.storage_usage(&syncwright::usage::UsageQuery { models_root: models, root })?;
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
