//! The app's clock, as the tests hold it: a `ManualClock` they move, and
//! the time it shows, which the tests know without asking the app.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use keyward::clock::ManualClock;
use time::OffsetDateTime;

#[derive(Clone)]
pub struct TestClock {
    clock: ManualClock,
    now: Arc<AtomicI64>,
}

fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

impl TestClock {
    /// A clock standing at the current second.
    pub fn starting_now() -> TestClock {
        loop {
            // `ManualClock` starts at the second it is made in: read on both
            // sides, it is known exactly when both reads agree.
            let before = unix_now();
            let clock = ManualClock::starting_now();
            if unix_now() == before {
                return TestClock {
                    clock,
                    now: Arc::new(AtomicI64::new(before)),
                };
            }
        }
    }

    /// The clock to give the app.
    pub fn manual(&self) -> ManualClock {
        self.clock.clone()
    }

    pub fn advance(&self, seconds: i64) {
        self.clock.advance(seconds);
        self.now.fetch_add(seconds, Ordering::SeqCst);
    }

    /// The app's time, in Unix seconds.
    pub fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    /// The app's date (UTC), as `YYYY-MM-DD`.
    pub fn today(&self) -> String {
        OffsetDateTime::from_unix_timestamp(self.now())
            .unwrap()
            .date()
            .to_string()
    }
}
