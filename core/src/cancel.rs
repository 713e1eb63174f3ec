//! A cancel flag shared by a job, its transfers and its scans.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// Set once to stop a run; cheap to check and to await.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl CancelFlag {
    /// A flag not yet set.
    pub fn new() -> CancelFlag {
        CancelFlag::default()
    }
    /// Sets the flag and wakes every waiter.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
    /// Whether the flag is set.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
    /// The raw flag, for blocking loops (scans).
    pub fn as_atomic(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }
    /// Completes when the flag is set.
    pub async fn cancelled(&self) {
        loop {
            let n = self.notify.notified();
            if self.is_cancelled() {
                return;
            }
            n.await;
        }
    }
}
