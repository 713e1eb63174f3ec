//! [`EventBus`]: numbers every event, hands it to every live subscriber that wants it, and keeps it for replay.

use super::keep::{Retention, Ring, Writer, stamp};
use super::seq::{Counter, SeqMark};
use super::subscription::{SubscriberShared, Subscription};
use super::{About, Event, EventFilter, EventRecord};
use crate::error::{Error, Result};
use crate::state::Store;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};

/// Where the kept events are.
#[derive(Debug)]
enum Keep {
    /// In the ring (of [`Inner`]).
    Memory,
    /// In the store, written by a thread of the bus.
    Store { store: Arc<Store>, writer: Arc<Writer> },
}

#[derive(Debug)]
struct Inner {
    subscribers: Vec<Weak<SubscriberShared>>,
    counter: Counter,
    /// The profile of each running job that has one (registered at launch, forgotten when it finishes).
    jobs: HashMap<String, String>,
    /// The kept events of a bus without a store.
    ring: Ring,
    /// Feeds the writer thread (None without a store, and after shutdown).
    to_writer: Option<Sender<Arc<EventRecord>>>,
    /// The thread of the last reservation (joined at shutdown).
    reserver: Option<std::thread::JoinHandle<()>>,
    /// After shutdown, nothing is published any more.
    shut: bool,
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    /// Publishers waiting for a block of numbers wait here.
    reserved: Condvar,
    keep: Keep,
    mark: Option<SeqMark>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Publishes events to every live subscriber, numbered and kept for replay (see the [module docs](super)).
#[derive(Debug)]
pub struct EventBus {
    shared: Arc<Shared>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Default for EventBus {
    fn default() -> EventBus {
        EventBus::new()
    }
}

impl EventBus {
    /// A bus without subscribers that keeps its events in memory with the default retention and numbers them
    /// from 1 (nothing on disk).
    pub fn new() -> EventBus {
        EventBus::make(Keep::Memory, Retention::default(), None, Counter::new(1, 0, false), 0)
    }

    /// A bus that keeps its events in memory under `retention`, numbered after those of earlier engines of the
    /// state directory `state_dir` (its `events.seq` mark; without one, or when it cannot be written, from 1).
    pub fn in_memory(state_dir: Option<&Path>, retention: Retention) -> EventBus {
        let mark = state_dir.map(SeqMark::new);
        let started = mark.as_ref().and_then(|m| match m.start(0) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot keep the event mark; events are numbered from 1");
                None
            }
        });
        let Some(s) = started else {
            return EventBus::make(Keep::Memory, retention, None, Counter::new(1, 0, false), 0);
        };
        // Nothing of earlier engines is kept: after a clean end every `seq` up to its last is settled; otherwise
        // (a crash, or another engine that lives) up to the reservation.
        let floor = s.prior.and_then(|p| p.used).unwrap_or(s.first - 1);
        EventBus::make(Keep::Memory, retention, mark, Counter::new(s.first, s.end, true), floor)
    }

    /// A bus that keeps its events in `store` under `retention`, numbered after every event of earlier engines
    /// of the state directory `state_dir` (its `events.seq` mark and the store's latest `seq`).
    pub fn in_store(store: Arc<Store>, state_dir: &Path, retention: Retention) -> Result<EventBus> {
        let b = store.event_bounds()?;
        let latest = b.latest.unwrap_or(0);
        let mark = SeqMark::new(state_dir);
        let (mark, counter, prior, alone) = match mark.start(latest) {
            Ok(s) => (Some(mark), Counter::new(s.first, s.end, true), s.prior, s.alone),
            Err(e) => {
                tracing::warn!(error = %e, "cannot keep the event mark; events are numbered after the store's");
                (None, Counter::new(latest + 1, 0, false), None, false)
            }
        };
        let start = counter.last;
        // The last engine crashed when it left no `used` and no other engine lives (its missing `used` is not a
        // living one's): the events of its last moments may never have been stored, so none before is replayed.
        let crashed = alone && prior.is_some_and(|p| p.used.is_none());
        let floor = match b.floor {
            _ if crashed => start,
            // What the store kept is complete above its floor.
            Some(floor) => floor,
            // A new (or rebuilt) store: the events up to the last engine's last one are gone.
            None => prior.and_then(|p| p.used).unwrap_or(start),
        };
        if b.floor != Some(floor) {
            store.set_event_floor(floor)?;
        }
        let writer = Arc::new(Writer::new(start));
        let keep = Keep::Store { store: store.clone(), writer: writer.clone() };
        let bus = EventBus::make(keep, retention, mark, counter, floor);
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("syncwright-events".into())
            .spawn(move || writer.run(&store, rx, retention))
            .map_err(|e| Error::internal(format!("cannot start the event writer: {e}")))?;
        bus.shared.lock().to_writer = Some(tx);
        *bus.writer_thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(thread);
        Ok(bus)
    }

    fn make(
        keep: Keep,
        retention: Retention,
        mark: Option<SeqMark>,
        counter: Counter,
        floor: u64,
    ) -> EventBus {
        let inner = Inner {
            subscribers: Vec::new(),
            counter,
            jobs: HashMap::new(),
            ring: Ring { records: VecDeque::new(), floor, retention },
            to_writer: None,
            reserver: None,
            shut: false,
        };
        let shared =
            Arc::new(Shared { inner: Mutex::new(inner), reserved: Condvar::new(), keep, mark });
        EventBus { shared, writer_thread: Mutex::new(None) }
    }

    /// The `seq` of the latest event published (before the first: the number before this engine's first one).
    pub fn latest_seq(&self) -> u64 {
        self.shared.lock().counter.last
    }

    /// Notes that `job_id` runs `profile`: its events are about that profile (see [`About`]), until it finishes.
    pub fn register_job(&self, job_id: &str, profile: Option<&str>) {
        if let Some(p) = profile {
            self.shared.lock().jobs.insert(job_id.to_string(), p.to_string());
        }
    }

    /// Numbers `event`, sends it to every subscriber that wants it (never blocking on a slow one) and keeps it.
    /// It never waits for the disk, except when events come faster than numbers can be reserved (see
    /// [`super::seq`]). After [`EventBus::shutdown`] it does nothing.
    pub fn publish(&self, event: Event) {
        self.publish_about(event, None);
    }

    /// Publishes `event` as about `profile` when it names none itself and its job is not registered (an
    /// operation changed while its job does not run).
    pub fn publish_about(&self, event: Event, profile: Option<&str>) {
        let mut g = self.shared.lock();
        if g.shut {
            return;
        }
        let seq = loop {
            if let Some(s) = g.counter.take() {
                break s;
            }
            if !g.counter.reserving {
                self.reserve(&mut g);
                continue;
            }
            g = self.shared.reserved.wait(g).unwrap_or_else(|p| p.into_inner());
        };
        if g.counter.wants_reservation() {
            self.reserve(&mut g);
        }
        let job_id = event.job_id().map(str::to_string);
        let about = About {
            profile: event
                .profile()
                .or(profile)
                .or_else(|| job_id.as_deref().and_then(|j| g.jobs.get(j)).map(String::as_str))
                .map(str::to_string),
            operation_id: event.operation_id().map(str::to_string),
            job_id,
        };
        if let Event::JobFinished { job_id, .. } = &event {
            g.jobs.remove(job_id);
        }
        let now = chrono::Utc::now();
        let record = Arc::new(EventRecord::new(seq, event, about, stamp(now)));
        g.subscribers.retain(|w| {
            let Some(s) = w.upgrade() else { return false };
            if s.filter.as_ref().is_none_or(|f| f.matches(&record)) {
                s.queue().push(record.clone());
                s.wake();
            }
            true
        });
        match &self.shared.keep {
            Keep::Memory => {
                let cutoff = g.ring.retention.cutoff(now);
                g.ring.push(record, &cutoff);
            }
            Keep::Store { .. } => {
                if let Some(tx) = &g.to_writer {
                    // Fails only once the writer has stopped; a replay then says so.
                    let _ = tx.send(record);
                }
            }
        }
    }

    /// Reserves the next block of numbers on a thread of its own (inline if none can be had).
    fn reserve(&self, g: &mut Inner) {
        let Some(_) = &self.shared.mark else { return };
        g.counter.reserving = true;
        let after = g.counter.reserved();
        let shared = self.shared.clone();
        let work = move |shared: &Shared| shared.mark.as_ref().map(|m| m.reserve(after));
        let spawned = std::thread::Builder::new().name("syncwright-seq".into()).spawn({
            let shared = shared.clone();
            move || {
                let r = work(&shared);
                reserved(&shared, &mut shared.lock(), r);
            }
        });
        match spawned {
            Ok(t) => g.reserver = Some(t),
            Err(_) => {
                let r = work(&shared);
                reserved(&shared, g, r);
            }
        }
    }

    /// A new subscription that sees every event published from now on.
    pub fn subscribe(&self) -> Subscription {
        self.add_subscriber(None).0
    }

    fn add_subscriber(&self, filter: Option<EventFilter>) -> (Subscription, u64) {
        let shared = Arc::new(SubscriberShared { filter, ..Default::default() });
        let mut g = self.shared.lock();
        let sub = Subscription { shared };
        if g.shut {
            sub.close();
        } else {
            g.subscribers.push(Arc::downgrade(&sub.shared));
        }
        (sub, g.counter.last)
    }

    /// A subscription to the events `filter` takes: with `since` = N (the last `seq` the subscriber saw, 0 for
    /// all), first every kept one with `seq` > N in order, then the live ones, with no gap and no duplicate
    /// between the two; without `since`, the live ones only. Blocks while it reads the kept events (from the
    /// store, once the writer has stored everything published so far).
    ///
    /// `invalid_input` for a filter with an unknown type; for a `since` whose following events are no longer
    /// kept (pruned, or lost with a damaged store or a crash), or beyond the latest `seq`, with details
    /// `{"since": N, "oldest_seq": <the oldest kept, or null>, "latest_seq": <the latest published>}`: asking
    /// again with `since` = `latest_seq` always works (then resynchronise what came before by other means).
    pub fn subscribe_from(&self, since: Option<u64>, filter: EventFilter) -> Result<Subscription> {
        filter.check()?;
        let f = (!filter.is_empty()).then_some(filter);
        let (sub, latest) = self.add_subscriber(f.clone());
        let Some(since) = since else { return Ok(sub) };
        let backlog = self.replay(since, latest, f.as_ref())?;
        sub.shared.queue().backlog = backlog;
        Ok(sub)
    }

    /// The kept events `filter` takes with `seq` in `since + 1 ..= latest`.
    fn replay(
        &self,
        since: u64,
        latest: u64,
        filter: Option<&EventFilter>,
    ) -> Result<VecDeque<Arc<EventRecord>>> {
        let refuse = |oldest: Option<u64>| {
            let why = if since > latest {
                format!("since {since} is beyond the latest event ({latest})")
            } else {
                format!(
                    "the events after {since} are no longer kept (oldest kept: {}, latest: {latest})",
                    oldest.map_or("none".to_string(), |o| o.to_string())
                )
            };
            Error::invalid(why).with_details(serde_json::json!({
                "since": since,
                "oldest_seq": oldest,
                "latest_seq": latest,
            }))
        };
        let takes = |r: &EventRecord| filter.is_none_or(|f| f.matches(r));
        match &self.shared.keep {
            Keep::Memory => {
                let mut g = self.shared.lock();
                let cutoff = g.ring.retention.cutoff(chrono::Utc::now());
                g.ring.prune(&cutoff);
                let oldest = g.ring.records.front().map(|r| r.seq());
                if since > latest || since < g.ring.floor {
                    return Err(refuse(oldest));
                }
                Ok(g.ring
                    .records
                    .iter()
                    .filter(|r| r.seq() > since && r.seq() <= latest && takes(r))
                    .cloned()
                    .collect())
            }
            Keep::Store { store, writer } => {
                let lost_through = writer.wait_written(latest)?;
                let (b, rows) = store.events_after(since, latest)?;
                if since > latest || since < b.floor.unwrap_or(0).max(lost_through) {
                    return Err(refuse(b.oldest.filter(|o| *o > lost_through)));
                }
                let mut out = VecDeque::new();
                for row in rows {
                    let about = About {
                        job_id: row.job_id,
                        profile: row.profile,
                        operation_id: row.operation_id,
                    };
                    match EventRecord::from_json(row.seq, row.at, about, row.json) {
                        Some(r) if takes(&r) => out.push_back(Arc::new(r)),
                        Some(_) => {}
                        None => tracing::warn!(seq = row.seq, "a kept event is not readable"),
                    }
                }
                Ok(out)
            }
        }
    }

    /// Ends every subscription: each returns what is queued, then None (the engine is shutting down).
    pub fn close_all(&self) {
        let subs = std::mem::take(&mut self.shared.lock().subscribers);
        for s in subs.iter().filter_map(Weak::upgrade) {
            Subscription { shared: s }.close();
        }
    }

    /// Shuts the bus down: every subscription ends (after what is queued), nothing more is published, the
    /// events published are stored (the writer drains and stops), and the mark records the last `seq` (a clean
    /// end, see [`super::seq`]). Called when the engine shuts down (and when the bus is dropped); later calls do
    /// nothing.
    pub fn shutdown(&self) {
        self.close_all();
        {
            let mut g = self.shared.lock();
            if g.shut {
                return;
            }
            g.shut = true;
            g.to_writer = None;
        }
        if let Some(t) = self.writer_thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
        if let Some(m) = &self.shared.mark {
            let g = self.shared.lock();
            let mut g = self
                .shared
                .reserved
                .wait_while(g, |g| g.counter.reserving)
                .unwrap_or_else(|p| p.into_inner());
            let (reserved, used) = (g.counter.reserved(), g.counter.last);
            let reserver = g.reserver.take();
            drop(g);
            if let Some(t) = reserver {
                let _ = t.join();
            }
            if let Err(e) = m.finish(reserved, used) {
                tracing::warn!(error = %e, "cannot record the last event number");
            }
        }
    }

    /// Whether anyone listens.
    pub fn has_subscribers(&self) -> bool {
        self.shared.lock().subscribers.iter().any(|w| w.strong_count() > 0)
    }
}

impl Drop for EventBus {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Takes the result of a reservation: the block, or (when the mark cannot be written) numbers without one.
fn reserved(shared: &Shared, g: &mut Inner, r: Option<std::io::Result<(u64, u64)>>) {
    match r {
        Some(Ok((first, end))) => g.counter.reserved_block(first, end),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "cannot reserve event numbers; they go on without a durable mark");
            g.counter.reserving = false;
            g.counter.bounded = false;
        }
        None => g.counter.reserving = false,
    }
    shared.reserved.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn started(id: &str) -> Event {
        Event::JobStarted { job_id: id.into(), at: "t".into() }
    }

    #[test]
    fn every_subscriber_sees_every_event_and_slow_ones_lose_the_oldest() {
        let bus = EventBus::new();
        let a = bus.subscribe();
        let b = bus.subscribe();
        bus.publish(started("1"));
        let first = a.next_blocking(Some(Duration::from_secs(1))).unwrap();
        assert_eq!((first.seq(), first.job_id()), (1, Some("1")));
        assert_eq!(b.try_next().unwrap().job_id(), Some("1"));
        assert!(a.next_blocking(Some(Duration::from_millis(1))).is_none());
        for i in 0..super::super::SUBSCRIBER_CAPACITY + 3 {
            bus.publish(started(&i.to_string()));
        }
        assert_eq!(a.lost(), 3);
        let r = a.try_next().unwrap();
        assert_eq!((r.job_id(), r.seq()), (Some("3"), 5));
        drop(b);
        bus.publish(started("x"));
        assert_eq!(bus.shared.lock().subscribers.len(), 1);
        a.close();
    }

    #[test]
    fn a_memory_bus_replays_from_since_filters_and_refuses_what_it_no_longer_keeps() {
        let bus = EventBus::new();
        bus.register_job("j1", Some("p1"));
        for i in 0..10 {
            bus.publish(started(if i % 2 == 0 { "j1" } else { "j2" }));
        }
        let f = EventFilter { profile: Some("p1".into()), ..Default::default() };
        let sub = bus.subscribe_from(Some(3), f).unwrap();
        bus.publish(started("j1"));
        bus.publish(started("j2"));
        let seqs: Vec<u64> = std::iter::from_fn(|| sub.try_next()).map(|r| r.seq()).collect();
        assert_eq!(seqs, [5, 7, 9, 11]);
        let e = bus.subscribe_from(Some(13), EventFilter::default()).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert_eq!(
            e.details().unwrap(),
            &serde_json::json!({"since": 13, "oldest_seq": 1, "latest_seq": 12})
        );
        bus.shared.lock().ring.retention.max_count = 4;
        bus.publish(started("j2"));
        let e = bus.subscribe_from(Some(8), EventFilter::default()).unwrap_err();
        assert_eq!(
            e.details().unwrap(),
            &serde_json::json!({"since": 8, "oldest_seq": 10, "latest_seq": 13})
        );
        let all = bus.subscribe_from(Some(9), EventFilter::default()).unwrap();
        assert_eq!(
            std::iter::from_fn(|| all.try_next()).map(|r| r.seq()).collect::<Vec<_>>(),
            [10, 11, 12, 13]
        );
        bus.shutdown();
        bus.publish(started("j1"));
        assert_eq!(bus.latest_seq(), 13, "nothing is published after shutdown");
        assert!(bus.subscribe().is_closed());
    }
}
