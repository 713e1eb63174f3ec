//! [`Subscription`]: one subscriber's events: those replayed from the kept ones (all of them, in order), then the
//! live ones (a bounded queue that drops the oldest and counts them).

use super::{EventFilter, EventRecord};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How many live events a subscriber holds before the oldest are dropped.
pub const SUBSCRIBER_CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub(super) struct Queue {
    /// Kept events replayed at subscription (never dropped), handed out before the live ones.
    pub backlog: VecDeque<Arc<EventRecord>>,
    /// Live events.
    pub live: VecDeque<Arc<EventRecord>>,
    pub lost: u64,
    pub closed: bool,
}

impl Queue {
    fn pop(&mut self) -> Option<Arc<EventRecord>> {
        self.backlog.pop_front().or_else(|| self.live.pop_front())
    }

    fn is_empty(&self) -> bool {
        self.backlog.is_empty() && self.live.is_empty()
    }

    /// Queues a live event, dropping the oldest live one when full.
    pub fn push(&mut self, r: Arc<EventRecord>) {
        if self.live.len() >= SUBSCRIBER_CAPACITY {
            self.live.pop_front();
            self.lost += 1;
        }
        self.live.push_back(r);
    }
}

#[derive(Debug, Default)]
pub(super) struct SubscriberShared {
    pub queue: Mutex<Queue>,
    pub cv: Condvar,
    pub notify: tokio::sync::Notify,
    /// The events it wants (None: all).
    pub filter: Option<EventFilter>,
}

impl SubscriberShared {
    pub fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes every kind of waiter.
    pub fn wake(&self) {
        self.cv.notify_all();
        self.notify.notify_one();
    }
}

/// One subscriber's queue of events ([`EventRecord`]s, in `seq` order).
#[derive(Debug)]
pub struct Subscription {
    pub(super) shared: Arc<SubscriberShared>,
}

impl Subscription {
    /// The next event, waiting up to `timeout` (None: no limit); None on timeout or after `close`.
    pub fn next_blocking(&self, timeout: Option<Duration>) -> Option<Arc<EventRecord>> {
        let q = self.shared.queue();
        let mut q = match timeout {
            None => self
                .shared
                .cv
                .wait_while(q, |q| q.is_empty() && !q.closed)
                .unwrap_or_else(|p| p.into_inner()),
            Some(t) => {
                self.shared
                    .cv
                    .wait_timeout_while(q, t, |q| q.is_empty() && !q.closed)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
        };
        q.pop()
    }

    /// The next event without waiting.
    pub fn try_next(&self) -> Option<Arc<EventRecord>> {
        self.shared.queue().pop()
    }

    /// The next event; None after `close`.
    pub async fn next(&self) -> Option<Arc<EventRecord>> {
        loop {
            let notified = self.shared.notify.notified();
            {
                let mut q = self.shared.queue();
                if let Some(e) = q.pop() {
                    return Some(e);
                }
                if q.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Live events dropped because this subscriber fell more than [`SUBSCRIBER_CAPACITY`] behind (replayed ones
    /// are never dropped). One that lost events can subscribe again from the last `seq` it saw.
    pub fn lost(&self) -> u64 {
        self.shared.queue().lost
    }

    /// The filter it was made with (the empty one: everything).
    pub fn filter(&self) -> EventFilter {
        self.shared.filter.clone().unwrap_or_default()
    }

    /// Whether it was closed (by [`Subscription::close`] or because its engine shut down).
    pub fn is_closed(&self) -> bool {
        self.shared.queue().closed
    }

    /// Wakes every waiter; later calls return what is queued, then None.
    pub fn close(&self) {
        self.shared.queue().closed = true;
        self.shared.cv.notify_all();
        self.shared.notify.notify_waiters();
    }
}
