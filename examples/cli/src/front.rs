//! The front door's other calls from the command line: profiles, run history, recovery operations and metrics,
//! the self-test's scenarios, and the event log (replayed from a `seq`, then followed).

use crate::profiles::Ctx;
use std::process::ExitCode;
use std::time::Duration;
use syncwright::Error;
use syncwright::events::EventFilter;

/// Prints a value as one line of JSON.
macro_rules! print_json {
    ($v:expr) => {
        println!("{}", serde_json::to_string($v).map_err(Error::from)?)
    };
}

impl Ctx {
    /// `profiles`: each profile as configured.
    pub fn profiles(&self, json: bool) -> Result<ExitCode, Error> {
        let engine = self.engine_of_config()?;
        let all = engine.profiles();
        if json {
            print_json!(&all);
        } else {
            for p in &all {
                let what = match (&p.source, &p.destination, &p.command) {
                    (Some(s), Some(d), _) => format!("{s} -> {d}"),
                    (_, _, Some(c)) => format!("command: {}", c.join(" ")),
                    _ => String::new(),
                };
                let every =
                    p.interval_secs.map(|s| format!(" (every {s:.0} s)")).unwrap_or_default();
                println!("{}: {what}{every}", p.name);
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `history PROFILE`: its runs, newest first, a page at a time.
    pub fn history(
        &self,
        profile: &str,
        page: usize,
        per_page: usize,
        json: bool,
    ) -> Result<ExitCode, Error> {
        let engine = self.engine_of_config()?;
        let h = engine.run_history(profile, page, per_page)?;
        if json {
            print_json!(&h);
            return Ok(ExitCode::SUCCESS);
        }
        for r in &h.runs {
            let s = r.stats.as_ref();
            println!(
                "{} {:<11} {:>8} ms  {} created, {} updated, {} deleted, {} errors{}  (job {})",
                r.started_at,
                r.status.as_str(),
                r.duration_ms.unwrap_or(0),
                s.map_or(0, |s| s.created),
                s.map_or(0, |s| s.updated),
                s.map_or(0, |s| s.deleted),
                s.map_or(0, |s| s.errors),
                r.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default(),
                r.job_id
            );
        }
        let p = &h.pagination;
        println!("page {} of {} ({} runs)", p.page, p.pages.max(1), p.total);
        Ok(ExitCode::SUCCESS)
    }

    /// `operations`: the stored recovery operations, newest first.
    pub fn operations(&self, active: bool, limit: usize, json: bool) -> Result<ExitCode, Error> {
        let engine = self.engine_any()?;
        let ops = engine.operations(active, limit)?;
        if json {
            print_json!(&ops);
        } else {
            for o in &ops {
                println!(
                    "{} {:<11} {:<12} attempt {}/{}{}",
                    o.operation_id,
                    o.state.as_str(),
                    o.function_name,
                    o.attempt,
                    o.max_attempts,
                    o.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `operation ID [--retry [--force] [--max-attempts N] | --cancel]`.
    pub fn operation(
        &self,
        id: &str,
        retry: bool,
        cancel: bool,
        force: bool,
        max_attempts: Option<u32>,
        json: bool,
    ) -> Result<ExitCode, Error> {
        let engine = self.engine_any()?;
        if retry {
            let job = engine.retry_operation(id, force, max_attempts)?;
            let cancel = crate::cancel_on_signal();
            return crate::finish_job(job, cancel, None, json);
        }
        let op = if cancel { engine.cancel_operation(id)? } else { engine.operation(id)? };
        if json {
            print_json!(&op);
        } else {
            println!(
                "{} {} ({}), attempt {}/{}, updated {}{}",
                op.operation_id,
                op.state.as_str(),
                op.function_name,
                op.attempt,
                op.max_attempts,
                op.updated_at,
                op.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `recovery-metrics`: counts over the operations and the settings in effect.
    pub fn recovery_metrics(&self) -> Result<ExitCode, Error> {
        let engine = self.engine_any()?;
        print_json!(&engine.recovery_metrics()?);
        Ok(ExitCode::SUCCESS)
    }

    /// `recovery-test --list`: the scenarios.
    pub fn scenarios(&self, json: bool) -> Result<ExitCode, Error> {
        let engine = self.engine_any()?;
        let s = engine.recovery_scenarios();
        if json {
            print_json!(&s);
        } else {
            for s in &s {
                println!("{:<22} {:<9} {}", s.id, s.category, s.description);
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `events [--since N] [filters] [--follow]`: the kept events after `since` as JSON lines (each with its
    /// `seq`), then, with `--follow`, the live ones until Ctrl-C.
    pub fn events(&self, since: u64, filter: EventFilter, follow: bool) -> Result<ExitCode, Error> {
        let engine = self.engine_any()?;
        let sub = engine.subscribe_from(Some(since), filter)?;
        let stop = crate::cancel_on_signal();
        loop {
            // The replay is queued at once; without --follow, stop when it is drained.
            let wait = if follow { Duration::from_millis(500) } else { Duration::ZERO };
            match sub.next_blocking(Some(wait)) {
                Some(e) => println!("{}", e.to_json()),
                None if !follow || stop.fired() || sub.is_closed() => break,
                None => {}
            }
        }
        if sub.lost() > 0 {
            eprintln!(
                "syncwright: {} events were lost (the output fell behind); resume with --since",
                sub.lost()
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
