//! A PUT budget: object-store PUTs are billed per request, so a broker can
//! be told how many it may send per second (`--put-budget-per-second`).
//! Every PUT (writer flushes, spills, merges) takes a token from one bucket
//! per broker; when the bucket is empty the PUT waits, and while it waits
//! the writer gathers more batches into its next flush, so a tight budget
//! trades latency for fewer, larger objects. Hedges (see [`super::hedge`])
//! are sent only when a token is free at once.

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;

use super::{ObjectMeta, ObjectStore, StoreError};
use crate::metrics as m;

/// A token bucket of PUTs: `per_second` tokens a second, at most one
/// second's worth saved up (and at least one token).
pub struct PutBudget {
    per_second: f64,
    bucket: Mutex<(f64, Instant)>,
}

impl PutBudget {
    /// `per_second` of 0 (or less) means no bound: PUTs are only counted.
    pub fn new(per_second: f64) -> Arc<Self> {
        metrics::gauge!(m::OBJECT_PUT_BUDGET_PER_SECOND).set(per_second.max(0.0));
        Arc::new(Self { per_second, bucket: Mutex::new((Self::capacity(per_second), Instant::now())) })
    }

    fn capacity(per_second: f64) -> f64 {
        per_second.max(1.0)
    }

    fn bounded(&self) -> bool {
        self.per_second > 0.0
    }

    /// Takes a token if one is there; otherwise how long until one is.
    fn take(&self) -> Result<(), Duration> {
        if !self.bounded() {
            metrics::counter!(m::OBJECT_PUTS_TOTAL).increment(1);
            return Ok(());
        }
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = &mut *bucket;
        let now = Instant::now();
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(Self::capacity(self.per_second));
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            metrics::counter!(m::OBJECT_PUTS_TOTAL).increment(1);
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        let mut waited = Duration::ZERO;
        while let Err(wait) = self.take() {
            tokio::time::sleep(wait).await;
            waited += wait;
        }
        if !waited.is_zero() {
            metrics::counter!(m::OBJECT_PUT_BUDGET_WAITS_TOTAL).increment(1);
            metrics::histogram!(m::OBJECT_PUT_BUDGET_WAIT_SECONDS).record(waited.as_secs_f64());
        }
    }

    /// Takes a token only if one is free now.
    pub fn try_acquire(&self) -> bool {
        self.take().is_ok()
    }
}

/// An object store whose PUTs wait for the budget.
pub struct Budgeted {
    inner: Arc<dyn ObjectStore>,
    budget: Arc<PutBudget>,
}

impl Budgeted {
    pub fn new(inner: Arc<dyn ObjectStore>, budget: Arc<PutBudget>) -> Self {
        Self { inner, budget }
    }
}

#[async_trait]
impl ObjectStore for Budgeted {
    async fn put_new(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        self.budget.acquire().await;
        self.inner.put_new(key, bytes).await
    }

    async fn put_fresh(
        &self,
        bytes: Bytes,
        new_key: &(dyn Fn() -> String + Send + Sync),
    ) -> Result<String, StoreError> {
        self.budget.acquire().await;
        self.inner.put_fresh(bytes, new_key).await
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        self.inner.get_range(key, range).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        self.inner.list(prefix).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unbounded_budget_never_waits_and_a_tight_one_paces() {
        let free = PutBudget::new(0.0);
        for _ in 0..1000 {
            assert!(free.try_acquire());
        }
        // 50 a second, one second's worth saved up: 50 go at once, and the
        // 51st waits for the next token, 20 ms later.
        let tight = PutBudget::new(50.0);
        for _ in 0..50 {
            assert!(tight.try_acquire());
        }
        let Err(wait) = tight.take() else { panic!("the bucket is empty") };
        assert!(wait > Duration::from_millis(10) && wait <= Duration::from_millis(20), "{wait:?}");
        let started = Instant::now();
        tight.acquire().await;
        assert!(started.elapsed() >= Duration::from_millis(10), "acquire waited for the token");
    }
}
