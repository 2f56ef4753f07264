//! A latency model in front of any object store, for benchmarks: a local
//! S3-compatible server answers in a millisecond or two, real S3 does not,
//! and tails are what producers feel. [`Delayed`] waits, after the real
//! store has answered, for a time drawn from a seeded model of a cloud
//! object store, so runs with the same seed see the same delays in the
//! same order.
//!
//! Each request's time is a lognormal draw (its median and p99 are the
//! model's) plus a transfer time per MB; a small fraction of requests meet
//! a long stall, and a smaller one a 503 SlowDown, which the SDK would
//! retry: modelled as a backoff plus a second draw. The figures are
//! approximations of published behaviour, not measurements of ours:
//! S3 Standard answers small requests in tens of milliseconds with a tail
//! in the hundreds (AWS quotes 100-200 ms first-byte latency); S3 Express
//! One Zone in single-digit milliseconds.

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::{ObjectMeta, ObjectStore, StoreError};

/// The time one kind of request takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestLatency {
    pub median_ms: f64,
    pub p99_ms: f64,
}

/// A model of a cloud object store's latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyModel {
    pub name: &'static str,
    pub put: RequestLatency,
    pub get: RequestLatency,
    /// LIST and DELETE.
    pub other: RequestLatency,
    /// Transfer time per MB (up or down) on top of the request's time.
    pub per_mb_ms: f64,
    /// Requests in a million that stall for `stall_ms` more.
    pub stalls_per_million: u32,
    pub stall_ms: f64,
    /// Requests in a million answered 503 SlowDown first.
    pub slowdowns_per_million: u32,
    /// The SDK's backoff before retrying a 503.
    pub slowdown_backoff_ms: f64,
}

impl LatencyModel {
    /// S3 Standard, same region.
    pub const S3_STANDARD: LatencyModel = LatencyModel {
        name: "s3-standard",
        put: RequestLatency { median_ms: 30.0, p99_ms: 150.0 },
        get: RequestLatency { median_ms: 20.0, p99_ms: 100.0 },
        other: RequestLatency { median_ms: 25.0, p99_ms: 120.0 },
        per_mb_ms: 10.0,
        stalls_per_million: 2_000,
        stall_ms: 400.0,
        slowdowns_per_million: 500,
        slowdown_backoff_ms: 50.0,
    };

    /// S3 Express One Zone, same availability zone.
    pub const S3_EXPRESS: LatencyModel = LatencyModel {
        name: "s3-express",
        put: RequestLatency { median_ms: 5.0, p99_ms: 15.0 },
        get: RequestLatency { median_ms: 3.0, p99_ms: 10.0 },
        other: RequestLatency { median_ms: 4.0, p99_ms: 12.0 },
        per_mb_ms: 5.0,
        stalls_per_million: 200,
        stall_ms: 100.0,
        slowdowns_per_million: 50,
        slowdown_backoff_ms: 20.0,
    };

    /// A model by its name, as the flag names it.
    pub fn named(name: &str) -> Option<LatencyModel> {
        [Self::S3_STANDARD, Self::S3_EXPRESS].into_iter().find(|m| m.name == name)
    }
}

/// splitmix64: small, fast, and the same sequence for the same seed.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    fn per_million(&mut self, n: u32) -> bool {
        self.next_u64() % 1_000_000 < u64::from(n)
    }
}

/// The z-score of the 99th percentile of a standard normal.
const Z_P99: f64 = 2.326_347_874;

impl RequestLatency {
    fn draw(&self, rng: &mut Rng) -> f64 {
        let sigma = (self.p99_ms / self.median_ms).ln() / Z_P99;
        self.median_ms * (sigma * rng.normal()).exp()
    }
}

/// An object store whose every request takes as long as the model says.
pub struct Delayed {
    inner: Arc<dyn ObjectStore>,
    model: LatencyModel,
    rng: Mutex<Rng>,
}

impl Delayed {
    pub fn new(inner: Arc<dyn ObjectStore>, model: LatencyModel, seed: u64) -> Self {
        Self { inner, model, rng: Mutex::new(Rng(seed)) }
    }

    /// The time a request of `latency` moving `bytes` takes.
    fn delay(&self, latency: RequestLatency, bytes: usize) -> Duration {
        let m = &self.model;
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let mut ms = latency.draw(&mut rng) + m.per_mb_ms * bytes as f64 / 1e6;
        if rng.per_million(m.stalls_per_million) {
            ms += m.stall_ms;
        }
        if rng.per_million(m.slowdowns_per_million) {
            ms += m.slowdown_backoff_ms + latency.draw(&mut rng);
        }
        Duration::from_secs_f64(ms / 1000.0)
    }
}

#[async_trait]
impl ObjectStore for Delayed {
    async fn put_new(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        let wait = self.delay(self.model.put, bytes.len());
        let result = self.inner.put_new(key, bytes).await;
        tokio::time::sleep(wait).await;
        result
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let wait = self.delay(self.model.get, range.end.saturating_sub(range.start) as usize);
        let result = self.inner.get_range(key, range).await;
        tokio::time::sleep(wait).await;
        result
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let wait = self.delay(self.model.other, 0);
        let result = self.inner.list(prefix).await;
        tokio::time::sleep(wait).await;
        result
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let wait = self.delay(self.model.other, 0);
        let result = self.inner.delete(key).await;
        tokio::time::sleep(wait).await;
        result
    }

    fn describe(&self) -> String {
        format!("{} (with the {} latency model)", self.inner.describe(), self.model.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[((v.len() as f64 - 1.0) * q).round() as usize]
    }

    #[test]
    fn draws_follow_the_model_and_repeat_with_the_seed() {
        let latency = RequestLatency { median_ms: 30.0, p99_ms: 150.0 };
        let mut rng = Rng(7);
        let draws: Vec<f64> = (0..200_000).map(|_| latency.draw(&mut rng)).collect();
        let (median, p99) = (quantile(draws.clone(), 0.5), quantile(draws.clone(), 0.99));
        assert!((median - 30.0).abs() < 1.0, "median {median}");
        assert!((p99 - 150.0).abs() < 8.0, "p99 {p99}");
        let mut again = Rng(7);
        assert_eq!(latency.draw(&mut again), draws[0]);
        assert_ne!(latency.draw(&mut Rng(8)), draws[0]);
    }

    #[test]
    fn delays_include_transfer_stalls_and_slowdowns() {
        struct Nothing;
        #[async_trait]
        impl ObjectStore for Nothing {
            async fn put_new(&self, _: &str, _: Bytes) -> Result<(), StoreError> {
                Ok(())
            }
            async fn get_range(&self, _: &str, _: Range<u64>) -> Result<Bytes, StoreError> {
                Ok(Bytes::new())
            }
            async fn list(&self, _: &str) -> Result<Vec<ObjectMeta>, StoreError> {
                Ok(vec![])
            }
            async fn delete(&self, _: &str) -> Result<(), StoreError> {
                Ok(())
            }
            fn describe(&self) -> String {
                "nothing".into()
            }
        }
        let model = LatencyModel { stalls_per_million: 10_000, ..LatencyModel::S3_STANDARD };
        let store = Delayed::new(Arc::new(Nothing), model, 1);
        let small: Vec<f64> = (0..20_000).map(|_| store.delay(model.put, 0).as_secs_f64() * 1000.0).collect();
        let big: Vec<f64> = (0..20_000).map(|_| store.delay(model.put, 8_000_000).as_secs_f64() * 1000.0).collect();
        let median_gap = quantile(big.clone(), 0.5) - quantile(small.clone(), 0.5);
        assert!((median_gap - 80.0).abs() < 5.0, "8 MB add 80 ms: {median_gap}");
        let stalled = small.iter().filter(|ms| **ms > 400.0).count();
        assert!((150..=260).contains(&stalled), "about 1% stall: {stalled}");
        assert_eq!(LatencyModel::named("s3-express"), Some(LatencyModel::S3_EXPRESS));
        assert_eq!(LatencyModel::named("nope"), None);
    }
}
