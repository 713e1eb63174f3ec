//! Events that are not lost: every event has a `seq`, is kept for a retention window, and a subscriber replays
//! from the last `seq` it saw, then follows live, filtered; `seq` only grows, across restarts and a rebuilt store.

#[path = "support/files.rs"]
mod files;
use files::write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use syncwright::config::Config;
use syncwright::events::{Event, EventFilter, EventRecord, Subscription};
use syncwright::logs::{LogEntry, LogLevel};
use syncwright::{Engine, EngineConfig, ErrorKind, Job, Status, SyncOptions};

/// How long any one event may take to come.
const PATIENCE: Duration = Duration::from_secs(60);

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
    src: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let src = root.join("src");
        for i in 0..3 {
            write(&src, &format!("d/f{i}.txt"), format!("file {i}\n").as_bytes());
        }
        Setup { state: root.join("state"), src, root, _dir: dir }
    }

    /// A config with `settings` (TOML lines) and profiles `p1` and `p2` from the source to their own folders.
    fn config(&self, settings: &str) -> Config {
        let mut t = format!(
            "[settings]\ncoordination_dir = {:?}\n{settings}\n",
            self.root.join("coord").to_str().unwrap()
        );
        for p in ["p1", "p2"] {
            t += &format!(
                "[profiles.{p}]\nsource = {:?}\ndestination = {:?}\n",
                self.src.to_str().unwrap(),
                self.root.join(format!("dst-{p}")).to_str().unwrap()
            );
        }
        Config::from_toml(&t).unwrap()
    }

    fn engine(&self, settings: &str, no_store: bool) -> Engine {
        Engine::with_config(
            self.config(settings),
            EngineConfig {
                state_dir: Some(self.state.clone()),
                no_store,
                worker_threads: 2,
                ..Default::default()
            },
        )
        .unwrap()
    }

    /// Starts a plain sync of the source to the folder `dst-<name>`.
    fn start(&self, engine: &Engine, name: &str) -> Job {
        let dst = self.root.join(format!("dst-{name}"));
        let opts = SyncOptions { progress_interval_ms: 10, ..Default::default() };
        engine.start_sync(self.src.to_str().unwrap(), dst.to_str().unwrap(), opts, None).unwrap()
    }
}

fn done(job: &Job) {
    let r = job.wait(Some(PATIENCE)).expect("the job did not finish in time");
    assert_eq!(r.status, Status::Completed, "{}", r.to_json());
}

/// Publishes a log entry of profile `marker` (an event of its own) and returns its `seq`.
fn mark(engine: &Engine, marker: &str) -> u64 {
    let only = EventFilter {
        profile: Some(marker.into()),
        types: vec!["log".into()],
        ..Default::default()
    };
    let sub = engine.subscribe_from(None, only).unwrap();
    engine
        .logs()
        .append(marker, LogEntry::now(LogLevel::Info, "mark", serde_json::json!({})))
        .unwrap();
    sub.next_blocking(Some(PATIENCE)).expect("the mark did not come").seq()
}

/// The latest `seq`, as the refusal of a `since` beyond everything says.
fn latest(engine: &Engine) -> u64 {
    let e = engine.subscribe_from(Some(u64::MAX), EventFilter::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    e.details().unwrap()["latest_seq"].as_u64().unwrap()
}

fn is_mark(r: &EventRecord, marker: &str) -> bool {
    matches!(r.event(), Event::Log { profile, .. } if profile == marker)
}

/// The events of `sub` up to and including the log entry of profile `marker`.
fn until_mark(sub: &Subscription, marker: &str) -> Vec<Arc<EventRecord>> {
    let mut out = Vec::new();
    loop {
        let r = sub.next_blocking(Some(PATIENCE)).expect("an event did not come in time");
        let end = is_mark(&r, marker);
        out.push(r);
        if end {
            return out;
        }
    }
}

fn seqs(v: &[Arc<EventRecord>]) -> Vec<u64> {
    v.iter().map(|r| r.seq()).collect()
}

#[track_caller]
fn refused(r: syncwright::Result<Subscription>, since: u64, oldest: Option<u64>, latest: u64) {
    let e = r.expect_err("the since was accepted");
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{}", e.message());
    assert_eq!(
        e.details().unwrap(),
        &serde_json::json!({"since": since, "oldest_seq": oldest, "latest_seq": latest}),
        "{}",
        e.message()
    );
}

#[test]
fn a_replay_from_since_in_the_middle_of_a_burst_loses_none_and_duplicates_none() {
    let s = Arc::new(Setup::new());
    let engine = Arc::new(s.engine("", false));
    let witness = engine.subscribe();
    // A witness drains every live event as it comes (so it loses none) and says when it has seen 1000.
    let (seen_1000, at_1000) = std::sync::mpsc::channel();
    let watcher = std::thread::spawn(move || {
        let mut got = Vec::new();
        loop {
            let r =
                witness.next_blocking(Some(PATIENCE)).expect("the witness got no event in time");
            let end = is_mark(&r, "end");
            got.push(r);
            if got.len() == 1000 {
                seen_1000.send(got[999].seq()).unwrap();
            }
            if end {
                return (got, witness.lost());
            }
        }
    });
    // The burst: 500 small syncs, 20 at a time (about ten events each).
    let burst = {
        let (s, engine) = (s.clone(), engine.clone());
        std::thread::spawn(move || {
            for batch in 0..25 {
                let jobs: Vec<Job> =
                    (0..20).map(|i| s.start(&engine, &format!("{batch}-{i}"))).collect();
                jobs.iter().for_each(done);
            }
        })
    };
    // In the middle of it: one subscriber resumes from 600 events back, one from the start; each reads as the
    // events come, up to the end mark.
    let seq_1000 = at_1000.recv_timeout(PATIENCE).expect("the burst did not reach 1000 events");
    let since = seq_1000 - 600;
    let read = |sub: Subscription| {
        std::thread::spawn(move || {
            let got = until_mark(&sub, "end");
            (got, sub.lost(), sub.try_next().is_none())
        })
    };
    let resumed = read(engine.subscribe_from(Some(since), EventFilter::default()).unwrap());
    let from_start = read(engine.subscribe_from(Some(0), EventFilter::default()).unwrap());
    assert!(!burst.is_finished(), "the subscriptions were not made in the middle of the burst");
    burst.join().unwrap();
    let end = mark(&engine, "end");
    let (all, witness_lost) = watcher.join().unwrap();
    assert_eq!(witness_lost, 0);
    assert!(end > 4000, "a burst of several thousand events: {end}");
    assert_eq!(seqs(&all), (1..=end).collect::<Vec<_>>(), "the live witness saw a gap");

    for (reader, from) in [(resumed, since), (from_start, 0)] {
        let (got, lost, drained) = reader.join().unwrap();
        assert_eq!((lost, drained), (0, true));
        let got_seqs = seqs(&got);
        let want: Vec<u64> = (from + 1..=end).collect();
        if got_seqs != want {
            let mut n = BTreeMap::new();
            got_seqs.iter().for_each(|s| *n.entry(*s).or_insert(0) += 1);
            let dup: Vec<_> = n.iter().filter(|(_, c)| **c > 1).map(|(s, _)| *s).collect();
            let missing: Vec<_> = want.iter().filter(|s| !n.contains_key(s)).collect();
            panic!("since {from}: duplicated {dup:?}, missing {missing:?}");
        }
        // Replayed from the store or live, each is the same event, byte for byte.
        for r in &got {
            assert_eq!(r.json(), all[(r.seq() - 1) as usize].json());
        }
    }
}

#[test]
fn filters_by_job_profile_operation_and_type_take_exactly_their_events() {
    let s = Setup::new();
    let engine = s.engine("", false);
    let f = |j: &str| EventFilter::from_json(Some(j)).unwrap();
    let live_p1 = engine.subscribe_from(None, f(r#"{"profile":"p1"}"#)).unwrap();
    let start = latest(&engine);
    let j1 = engine.run_profile("p1", None).unwrap();
    let j2 = engine.run_profile("p2", None).unwrap();
    let plain = s.start(&engine, "plain");
    [&j1, &j2, &plain].into_iter().for_each(done);
    let end = mark(&engine, "end");
    let all =
        until_mark(&engine.subscribe_from(Some(start), EventFilter::default()).unwrap(), "end");
    assert_eq!(seqs(&all), (start + 1..=end).collect::<Vec<_>>());

    let replay = |filter: &str| {
        let sub = engine.subscribe_from(Some(start), f(filter)).unwrap();
        std::iter::from_fn(|| sub.try_next()).map(|r| r.seq()).collect::<Vec<_>>()
    };
    let expect = |keep: &dyn Fn(&Event) -> bool| {
        all.iter().filter(|r| keep(r.event())).map(|r| r.seq()).collect::<Vec<_>>()
    };
    // A job's events: its own, its locks', its operation's.
    let by_job = replay(&format!(r#"{{"job_id":"{}"}}"#, j1.id()));
    assert_eq!(by_job, expect(&|e| e.job_id() == Some(j1.id())));
    let types: Vec<&str> =
        all.iter().filter(|r| by_job.contains(&r.seq())).map(|r| r.type_name()).collect();
    for t in ["job_queued", "job_started", "lock_taken", "recovery_update", "job_finished"] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    // A profile's: its jobs' events and its log entries; the plain sync's are about no profile.
    let p1 = expect(&|e| e.job_id() == Some(j1.id()) || e.profile() == Some("p1"));
    assert_eq!(replay(r#"{"profile":"p1"}"#), p1);
    assert!(p1.iter().any(|s| all[(s - start - 1) as usize].type_name() == "log"));
    let live: Vec<u64> = std::iter::from_fn(|| live_p1.try_next()).map(|r| r.seq()).collect();
    assert_eq!(live, p1, "the live filter takes what the replay takes");
    // An operation's: its recovery events only.
    assert_eq!(
        replay(&format!(r#"{{"operation_id":"{}"}}"#, j2.id())),
        expect(&|e| e.operation_id() == Some(j2.id()))
    );
    assert!(expect(&|e| e.operation_id() == Some(j2.id())).len() >= 3);
    // Types, and all of it together.
    assert_eq!(
        replay(r#"{"types":["job_finished","log"]}"#),
        expect(&|e| matches!(e, Event::JobFinished { .. } | Event::Log { .. }))
    );
    let j2_end = replay(r#"{"profile":"p2","types":["job_finished"]}"#);
    assert_eq!(
        j2_end,
        expect(&|e| matches!(e, Event::JobFinished { job_id, .. } if job_id == j2.id()))
    );
    assert_eq!(j2_end.len(), 1);
    assert_eq!(replay(r#"{"profile":"nobody"}"#), Vec::<u64>::new());
    for bad in [r#"{"types":["job_done"]}"#, r#"{"job":"x"}"#] {
        let e = EventFilter::from_json(Some(bad)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
    }
    let bad = EventFilter { types: vec!["job_done".into()], ..Default::default() };
    assert_eq!(engine.subscribe_from(Some(0), bad).unwrap_err().kind(), ErrorKind::InvalidInput);
}

#[test]
fn a_since_no_longer_kept_or_beyond_the_latest_is_invalid_input_with_the_bounds() {
    for no_store in [false, true] {
        let s = Setup::new();
        let engine = s.engine("event_retention_max = 20", no_store);
        for i in 0..5 {
            done(&s.start(&engine, &i.to_string()));
        }
        let latest = mark(&engine, "end");
        assert!(latest > 40, "{latest}");
        let oldest = latest - 19;
        refused(
            engine.subscribe_from(Some(latest + 1), EventFilter::default()),
            latest + 1,
            Some(oldest),
            latest,
        );
        refused(
            engine.subscribe_from(Some(oldest - 2), EventFilter::default()),
            oldest - 2,
            Some(oldest),
            latest,
        );
        refused(engine.subscribe_from(Some(0), EventFilter::default()), 0, Some(oldest), latest);
        // From just before the oldest kept: exactly the 20 kept, then live.
        let sub = engine.subscribe_from(Some(oldest - 1), EventFilter::default()).unwrap();
        let next = mark(&engine, "next");
        assert_eq!(
            seqs(&until_mark(&sub, "next")),
            (oldest..=next).collect::<Vec<_>>(),
            "no_store {no_store}"
        );
        // The latest is always a valid place to resume from.
        let sub = engine.subscribe_from(Some(next), EventFilter::default()).unwrap();
        assert!(sub.try_next().is_none());
    }
}

/// Overwrites the middle of the store file with noise (the engine using it is gone).
fn damage_store(state: &Path) {
    let path = state.join("state.db");
    let mut bytes = std::fs::read(&path).unwrap();
    let mut rng = fastrand::Rng::with_seed(9);
    let (a, b) = (bytes.len() / 4, bytes.len() * 3 / 4);
    bytes[a..b].iter_mut().for_each(|x| *x = rng.u8(..));
    // The header too, so that the damage is found whatever pages the noise hit.
    bytes[..16].copy_from_slice(b"not a database!\0");
    std::fs::write(&path, &bytes).unwrap();
}

#[test]
fn seq_only_grows_across_a_restart_a_rebuilt_store_and_a_crash() {
    let s = Setup::new();
    // First life: its events are kept across a clean restart.
    let engine = s.engine("", false);
    done(&s.start(&engine, "a"));
    let first_end = mark(&engine, "first");
    drop(engine);
    let engine = s.engine("", false);
    assert!(engine.store_recovery().is_none());
    let sub = engine.subscribe_from(Some(first_end - 3), EventFilter::default()).unwrap();
    done(&s.start(&engine, "b"));
    let second_end = mark(&engine, "second");
    let got = until_mark(&sub, "second");
    let (old, new): (Vec<_>, Vec<_>) = seqs(&got).into_iter().partition(|s| *s <= first_end);
    assert_eq!(
        old,
        (first_end - 2..=first_end).collect::<Vec<_>>(),
        "the first life's last events"
    );
    assert!(new[0] > first_end && new.windows(2).all(|w| w[0] + 1 == w[1]), "{new:?}");
    assert_eq!(*new.last().unwrap(), second_end);
    drop(sub);
    drop(engine);

    // The store is damaged and rebuilt: its events are gone, their numbers are not reused, and a since from
    // before the end of the last life is refused instead of answered with a gap.
    damage_store(&s.state);
    let engine = s.engine("", false);
    assert!(engine.store_recovery().is_some(), "the damaged store was not rebuilt");
    let last = latest(&engine);
    assert!(last >= second_end);
    refused(
        engine.subscribe_from(Some(second_end - 1), EventFilter::default()),
        second_end - 1,
        None,
        last,
    );
    let sub = engine.subscribe_from(Some(second_end), EventFilter::default()).unwrap();
    done(&s.start(&engine, "c"));
    let third_end = mark(&engine, "third");
    let got = until_mark(&sub, "third");
    assert!(got[0].seq() > second_end, "{} after {second_end}", got[0].seq());
    assert_eq!(got.last().unwrap().seq(), third_end);
    drop(sub);

    // A crash: the engine never records its last seq. (What one leaves behind: a mark without `used`, and no
    // engine alive.) The next one cannot know which of its last events were stored, so a since from before it is
    // refused; numbers still only grow.
    drop(engine);
    let mark_file = s.state.join("events.seq");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&mark_file).unwrap()).unwrap();
    assert_eq!(m["used"], third_end, "a clean end records the last seq: {m}");
    m.as_object_mut().unwrap().remove("used");
    std::fs::write(&mark_file, m.to_string()).unwrap();
    let engine = s.engine("", false);
    let last = latest(&engine);
    assert!(last >= third_end);
    refused(engine.subscribe_from(Some(third_end), EventFilter::default()), third_end, None, last);
    let sub = engine.subscribe_from(Some(last), EventFilter::default()).unwrap();
    let fourth = mark(&engine, "fourth");
    assert!(fourth > third_end);
    assert_eq!(seqs(&until_mark(&sub, "fourth")), [fourth]);
}

#[test]
fn two_engines_on_one_state_directory_number_apart_and_leave_each_others_replay_whole() {
    let s = Setup::new();
    let a = s.engine("", false);
    done(&s.start(&a, "a"));
    let a_end = mark(&a, "a-end");
    // A second engine while the first lives (a CLI run while a server runs): not taken for a crash of the first.
    let b = s.engine("", false);
    let b_start = latest(&b);
    assert!(b_start >= syncwright::events::seq::BLOCK, "b numbers after a's block: {b_start}");
    let from_b = b.subscribe_from(Some(b_start), EventFilter::default()).unwrap();
    done(&s.start(&b, "b"));
    let b_end = mark(&b, "b-end");
    let b_seqs = seqs(&until_mark(&from_b, "b-end"));
    assert_eq!(b_seqs, (b_start + 1..=b_end).collect::<Vec<_>>());
    drop(from_b);
    drop(b);
    // The first engine's replay is whole, and it goes on numbering in its own block.
    let all_a = until_mark(&a.subscribe_from(Some(0), EventFilter::default()).unwrap(), "a-end");
    assert_eq!(seqs(&all_a), (1..=a_end).collect::<Vec<_>>());
    let again = mark(&a, "a-again");
    assert_eq!(again, a_end + 1);
}

#[test]
fn an_engine_without_a_store_replays_from_memory_and_still_numbers_after_the_last_one() {
    let s = Setup::new();
    let engine = s.engine("", true);
    assert!(engine.store().is_none());
    let live = engine.subscribe();
    done(&s.start(&engine, "a"));
    done(&engine.run_profile("p1", None).unwrap());
    let end = mark(&engine, "end");
    let seen = until_mark(&live, "end");
    assert_eq!(seqs(&seen), (1..=end).collect::<Vec<_>>());
    let replayed =
        until_mark(&engine.subscribe_from(Some(0), EventFilter::default()).unwrap(), "end");
    assert_eq!(
        replayed.iter().map(|r| r.json()).collect::<Vec<_>>(),
        seen.iter().map(|r| r.json()).collect::<Vec<_>>()
    );
    let p1 = engine
        .subscribe_from(Some(0), EventFilter { profile: Some("p1".into()), ..Default::default() })
        .unwrap();
    let p1: Vec<_> = std::iter::from_fn(|| p1.try_next()).collect();
    assert!(!p1.is_empty() && p1.iter().all(|r| r.profile() == Some("p1")), "{p1:?}");
    drop(engine);
    assert!(s.state.join("events.seq").is_file());

    // The next engine keeps nothing of this one's, but numbers after it, and knows nothing was missed after `end`.
    let engine = s.engine("", true);
    refused(
        engine.subscribe_from(Some(end - 1), EventFilter::default()),
        end - 1,
        None,
        latest(&engine),
    );
    let sub = engine.subscribe_from(Some(end), EventFilter::default()).unwrap();
    let next = mark(&engine, "next");
    assert!(next > end);
    assert_eq!(seqs(&until_mark(&sub, "next")), [next]);
}
