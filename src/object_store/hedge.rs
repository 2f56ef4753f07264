//! Hedged requests: when an object-store request is slower than most recent
//! ones, a second copy of it races the first and whichever answers first
//! is used ("The Tail at Scale", Dean and Barroso). Object stores have long
//! tails (a PUT to S3 Standard takes tens of milliseconds at the median and
//! hundreds at the p99) that come from the server, not from the request,
//! so a second try is very likely to be fast.
//!
//! - A ranged GET is repeated as it is.
//! - A PUT is repeated under a second fresh key ([`ObjectStore::put_fresh`]):
//!   keys are create-only, and the caller records whichever key landed
//!   first. The other copy, if it lands too, is referenced by nothing and
//!   garbage collection deletes it after the grace period.
//!
//! The threshold adapts: it is a percentile (`--hedge-percentile`) of the
//! last [`WINDOW`] latencies of that kind of request, never below
//! [`THRESHOLD_FLOOR`]. Where hedges rarely win (a store whose latency is
//! tight, so a request past the p95 is nearly done), the percentile backs
//! off towards the p99 until they win again, so the budget is kept for
//! real stalls. Hedges cost requests (a PUT is money), so they draw
//! on a budget that earns `--hedge-budget-percent` of a hedge per request:
//! past it, slow requests are simply waited for.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use tracing::debug;

use super::budget::PutBudget;
use super::{ObjectMeta, ObjectStore, StoreError};
use crate::metrics as m;

/// Latencies the threshold is computed from, per kind of request.
pub const WINDOW: usize = 512;
/// Samples needed before the first hedge: until then the tail is unknown.
pub const SAMPLES_MIN: usize = 32;
/// The threshold never goes below this, so a fast local server (where a
/// second request gains nothing measurable) is not hedged.
pub const THRESHOLD_FLOOR: Duration = Duration::from_millis(5);
/// Unused hedges the budget can save up (a burst of slow requests).
pub const BUDGET_BURST: f64 = 10.0;

/// How hedging behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HedgeSettings {
    /// The percentile of recent latencies after which a request is hedged
    /// (for example 95); 0 turns hedging off.
    pub percentile: f64,
    /// Hedges allowed per 100 requests, over time.
    pub budget_percent: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Put,
    Get,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Put => "put",
            Kind::Get => "get",
        }
    }
}

/// Recent latencies of one kind of request and the threshold they imply.
struct Tracker {
    recent: VecDeque<Duration>,
    /// Recomputed every [`RECOMPUTE_EVERY`] samples.
    threshold: Option<Duration>,
    since_recompute: usize,
    /// Share of recent hedges that won (moving average over about
    /// [`WIN_RATE_SPAN`] hedges; starts hopeful).
    win_rate: f64,
    /// Hedging later than the configured percentile, because hedges lost.
    backed_off: bool,
}

const RECOMPUTE_EVERY: usize = 16;
const WIN_RATE_SPAN: f64 = 16.0;
/// Back off below this share of hedges won; return above the second.
const WIN_RATE_LOW: f64 = 0.1;
const WIN_RATE_HIGH: f64 = 0.3;

impl Tracker {
    fn new() -> Self {
        Self {
            recent: VecDeque::with_capacity(WINDOW),
            threshold: None,
            since_recompute: 0,
            win_rate: 1.0,
            backed_off: false,
        }
    }

    /// The percentile in force: the configured one, or four fifths of the
    /// way from it to 100 while backed off (95 -> 99).
    fn percentile(&self, configured: f64) -> f64 {
        if self.backed_off {
            configured + (100.0 - configured) * 0.8
        } else {
            configured
        }
    }

    fn hedged(&mut self, won: bool) {
        let target = if won { 1.0 } else { 0.0 };
        self.win_rate += (target - self.win_rate) / WIN_RATE_SPAN;
        let backed_off = if self.backed_off { self.win_rate < WIN_RATE_HIGH } else { self.win_rate < WIN_RATE_LOW };
        if backed_off != self.backed_off {
            self.backed_off = backed_off;
            // Recompute at the next sample.
            self.since_recompute = RECOMPUTE_EVERY;
        }
    }

    fn record(&mut self, latency: Duration, configured: f64) {
        let percentile = self.percentile(configured);
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(latency);
        self.since_recompute += 1;
        if self.recent.len() >= SAMPLES_MIN && (self.threshold.is_none() || self.since_recompute >= RECOMPUTE_EVERY) {
            self.since_recompute = 0;
            let mut sorted: Vec<Duration> = self.recent.iter().copied().collect();
            sorted.sort_unstable();
            let rank = ((sorted.len() - 1) as f64 * percentile / 100.0).round() as usize;
            self.threshold = Some(sorted[rank.min(sorted.len() - 1)].max(THRESHOLD_FLOOR));
        }
    }
}

struct State {
    put: Tracker,
    get: Tracker,
    /// Hedges that may be sent now.
    tokens: f64,
}

impl State {
    fn tracker(&mut self, kind: Kind) -> &mut Tracker {
        match kind {
            Kind::Put => &mut self.put,
            Kind::Get => &mut self.get,
        }
    }
}

/// An object store whose slow PUTs and GETs are hedged.
pub struct Hedged {
    inner: Arc<dyn ObjectStore>,
    settings: HedgeSettings,
    /// A PUT hedge is one more PUT: it needs a token at once.
    puts: Option<Arc<PutBudget>>,
    state: Mutex<State>,
}

impl Hedged {
    pub fn new(inner: Arc<dyn ObjectStore>, settings: HedgeSettings, puts: Option<Arc<PutBudget>>) -> Self {
        let state = State { put: Tracker::new(), get: Tracker::new(), tokens: BUDGET_BURST };
        Self { inner, settings, puts, state: Mutex::new(state) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When a new request of `kind` should be hedged, if at all; each
    /// request earns the budget its share of a hedge.
    fn threshold(&self, kind: Kind) -> Option<Duration> {
        if self.settings.percentile <= 0.0 {
            return None;
        }
        let mut state = self.lock();
        state.tokens = (state.tokens + self.settings.budget_percent / 100.0).min(BUDGET_BURST);
        state.tracker(kind).threshold
    }

    /// Takes a hedge from the budget (and for a PUT, a token of the PUT
    /// budget).
    fn spend(&self, kind: Kind) -> bool {
        let mut state = self.lock();
        let put_allowed = || kind != Kind::Put || self.puts.as_ref().is_none_or(|b| b.try_acquire());
        if state.tokens >= 1.0 && put_allowed() {
            state.tokens -= 1.0;
            true
        } else {
            metrics::counter!(m::OBJECT_HEDGES_SKIPPED_TOTAL, "op" => kind.label()).increment(1);
            false
        }
    }

    fn hedged(&self, kind: Kind, won: bool) {
        self.lock().tracker(kind).hedged(won);
    }

    fn record(&self, kind: Kind, latency: Duration) {
        let percentile = self.settings.percentile;
        let threshold = {
            let mut state = self.lock();
            let tracker = state.tracker(kind);
            tracker.record(latency, percentile);
            tracker.threshold
        };
        if let Some(t) = threshold {
            metrics::gauge!(m::OBJECT_HEDGE_THRESHOLD_SECONDS, "op" => kind.label()).set(t.as_secs_f64());
        }
    }

    /// Runs `first`; if it has not answered after the threshold (and the
    /// budget allows), starts `second` and returns whichever succeeds
    /// first, with `true` when the hedge answered. An error is returned only
    /// when every started request failed (the last error).
    async fn race<T, F1, F2>(&self, kind: Kind, first: F1, second: impl FnOnce() -> F2) -> Result<(T, bool), StoreError>
    where
        F1: std::future::Future<Output = Result<T, StoreError>>,
        F2: std::future::Future<Output = Result<T, StoreError>>,
    {
        let started = Instant::now();
        let Some(threshold) = self.threshold(kind) else {
            let result = first.await;
            if result.is_ok() {
                self.record(kind, started.elapsed());
            }
            return result.map(|v| (v, false));
        };
        tokio::pin!(first);
        tokio::select! {
            result = &mut first => {
                if result.is_ok() {
                    self.record(kind, started.elapsed());
                }
                return result.map(|v| (v, false));
            }
            _ = tokio::time::sleep(threshold) => {}
        }
        if !self.spend(kind) {
            let result = first.await;
            if result.is_ok() {
                self.record(kind, started.elapsed());
            }
            return result.map(|v| (v, false));
        }
        metrics::counter!(m::OBJECT_HEDGES_SENT_TOTAL, "op" => kind.label()).increment(1);
        debug!(op = kind.label(), threshold_ms = threshold.as_millis() as u64, "hedging a slow object-store request");
        let hedge_started = Instant::now();
        let second = second();
        tokio::pin!(second);
        let (mut first_done, mut second_done) = (false, false);
        loop {
            tokio::select! {
                result = &mut first, if !first_done => {
                    first_done = true;
                    match result {
                        Ok(v) => {
                            self.hedged(kind, false);
                            self.record(kind, started.elapsed());
                            return Ok((v, false));
                        }
                        Err(e) if second_done => return Err(e),
                        Err(_) => {}
                    }
                }
                result = &mut second, if !second_done => {
                    second_done = true;
                    match result {
                        Ok(v) => {
                            metrics::counter!(m::OBJECT_HEDGES_WON_TOTAL, "op" => kind.label()).increment(1);
                            self.hedged(kind, true);
                            // Both are samples of the store's latency: the
                            // hedge's own, and the first's at least this.
                            self.record(kind, hedge_started.elapsed());
                            if !first_done {
                                self.record(kind, started.elapsed());
                            }
                            return Ok((v, true));
                        }
                        Err(e) if first_done => return Err(e),
                        Err(_) => {}
                    }
                }
            }
        }
    }
}

#[async_trait]
impl ObjectStore for Hedged {
    async fn put_new(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        // The key is the caller's: a second copy would need another one.
        self.inner.put_new(key, bytes).await
    }

    async fn put_fresh(
        &self,
        bytes: Bytes,
        new_key: &(dyn Fn() -> String + Send + Sync),
    ) -> Result<String, StoreError> {
        let (first_key, second_key) = (new_key(), new_key());
        let first = self.inner.put_new(&first_key, bytes.clone());
        let second = || self.inner.put_new(&second_key, bytes.clone());
        let ((), hedge_won) = self.race(Kind::Put, first, second).await?;
        Ok(if hedge_won { second_key } else { first_key })
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let first = self.inner.get_range(key, range.clone());
        let second = || self.inner.get_range(key, range.clone());
        self.race(Kind::Get, first, second).await.map(|(bytes, _)| bytes)
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
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::object_store::local::LocalStore;

    /// The real local store, each PUT and GET of which first takes the
    /// next step of a script: a delay, then maybe a failure (no steps
    /// left: neither).
    struct Scripted {
        inner: LocalStore,
        steps: Mutex<VecDeque<(Duration, bool)>>,
        puts: AtomicUsize,
        gets: AtomicUsize,
    }

    impl Scripted {
        /// The next requests' delays and whether they then fail.
        fn script(&self, steps: &[(Duration, bool)]) {
            self.steps.lock().unwrap().extend(steps.iter().copied());
        }

        async fn step(&self, key: &str) -> Result<(), StoreError> {
            let (delay, fail) = self.steps.lock().unwrap().pop_front().unwrap_or_default();
            tokio::time::sleep(delay).await;
            if fail {
                let source = std::io::Error::other("scripted failure");
                return Err(StoreError::Unavailable { operation: "scripted put", key: key.into(), source });
            }
            Ok(())
        }
    }

    #[async_trait]
    impl ObjectStore for Scripted {
        async fn put_new(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
            self.puts.fetch_add(1, Ordering::SeqCst);
            self.step(key).await?;
            self.inner.put_new(key, bytes).await
        }
        async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            self.step(key).await?;
            self.inner.get_range(key, range).await
        }
        async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
            self.inner.list(prefix).await
        }
        async fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.inner.delete(key).await
        }
        fn describe(&self) -> String {
            "scripted".into()
        }
    }

    fn scripted(dir: &std::path::Path) -> Arc<Scripted> {
        Arc::new(Scripted {
            inner: LocalStore::open(dir).unwrap(),
            steps: Mutex::new(VecDeque::new()),
            puts: AtomicUsize::new(0),
            gets: AtomicUsize::new(0),
        })
    }

    fn keys() -> impl Fn() -> String + Send + Sync {
        let n = AtomicUsize::new(0);
        move || format!("k/{}", n.fetch_add(1, Ordering::SeqCst))
    }

    const SETTINGS: HedgeSettings = HedgeSettings { percentile: 95.0, budget_percent: 100.0 };

    #[tokio::test]
    async fn a_stalled_put_loses_to_its_hedge_under_the_second_key() {
        let dir = tempfile::tempdir().unwrap();
        let inner = scripted(dir.path());
        let store = Hedged::new(inner.clone(), SETTINGS, None);
        let fresh = keys();
        // Warm up the tracker with fast PUTs: no hedges, first keys win.
        for i in 0..SAMPLES_MIN {
            let key = store.put_fresh(Bytes::from_static(b"warm"), &fresh).await.unwrap();
            assert_eq!(key, format!("k/{}", 2 * i));
        }
        assert_eq!(inner.puts.load(Ordering::SeqCst), SAMPLES_MIN);
        let threshold = store.lock().put.threshold.expect("enough samples for a threshold");
        assert!(threshold >= THRESHOLD_FLOOR && threshold < Duration::from_secs(1), "{threshold:?}");

        // The next PUT stalls for a minute; its hedge (under the next
        // key) is not delayed and wins.
        inner.script(&[(Duration::from_secs(60), false)]);
        let key = store.put_fresh(Bytes::from_static(b"payload"), &fresh).await.unwrap();
        assert_eq!(key, format!("k/{}", 2 * SAMPLES_MIN + 1));
        assert_eq!(inner.puts.load(Ordering::SeqCst), SAMPLES_MIN + 2);
        assert_eq!(inner.inner.get_range(&key, 0..7).await.unwrap(), Bytes::from_static(b"payload"));
        // The stalled PUT was abandoned: its key was never written.
        let abandoned = format!("k/{}", 2 * SAMPLES_MIN);
        assert!(matches!(inner.inner.get_range(&abandoned, 0..1).await, Err(StoreError::NotFound { .. })));
    }

    #[tokio::test]
    async fn gets_are_hedged_within_the_budget_only() {
        let dir = tempfile::tempdir().unwrap();
        let inner = scripted(dir.path());
        inner.inner.put_new("obj", Bytes::from_static(b"0123456789")).await.unwrap();
        // A budget of 1 hedge per 100 requests, starting from the burst.
        let store = Hedged::new(inner.clone(), HedgeSettings { percentile: 95.0, budget_percent: 1.0 }, None);
        for _ in 0..SAMPLES_MIN {
            assert_eq!(store.get_range("obj", 2..5).await.unwrap(), Bytes::from_static(b"234"));
        }
        store.lock().tokens = 1.0;
        // First slow GET: hedged, and the hedge answers the same bytes.
        inner.script(&[(Duration::from_secs(60), false)]);
        assert_eq!(store.get_range("obj", 2..5).await.unwrap(), Bytes::from_static(b"234"));
        assert_eq!(inner.gets.load(Ordering::SeqCst), SAMPLES_MIN + 2);
        // The budget is spent (0.02 earned since): the next slow GET waits.
        inner.script(&[(Duration::from_millis(300), false)]);
        assert_eq!(store.get_range("obj", 5..6).await.unwrap(), Bytes::from_static(b"5"));
        assert_eq!(inner.gets.load(Ordering::SeqCst), SAMPLES_MIN + 3, "no hedge without budget");
    }

    #[tokio::test]
    async fn a_failure_on_either_side_leaves_the_other_to_answer() {
        let dir = tempfile::tempdir().unwrap();
        let inner = scripted(dir.path());
        let store = Hedged::new(inner.clone(), SETTINGS, None);
        let fresh = keys();
        for _ in 0..SAMPLES_MIN {
            store.put_fresh(Bytes::from_static(b"warm"), &fresh).await.unwrap();
        }
        let base = 2 * SAMPLES_MIN;
        // The first PUT is slow and then fails; its hedge succeeds.
        inner.script(&[(Duration::from_millis(300), true), (Duration::ZERO, false)]);
        let key = store.put_fresh(Bytes::from_static(b"a"), &fresh).await.unwrap();
        assert_eq!(key, format!("k/{}", base + 1));
        // The first PUT is slow and succeeds; its hedge fails at once.
        inner.script(&[(Duration::from_millis(300), false), (Duration::ZERO, true)]);
        let key = store.put_fresh(Bytes::from_static(b"b"), &fresh).await.unwrap();
        assert_eq!(key, format!("k/{}", base + 2));
        assert_eq!(inner.inner.get_range(&key, 0..1).await.unwrap(), Bytes::from_static(b"b"));
        // Both fail: the error is returned.
        inner.script(&[(Duration::from_millis(300), true), (Duration::ZERO, true)]);
        let e = store.put_fresh(Bytes::from_static(b"c"), &fresh).await.unwrap_err();
        assert!(matches!(e, StoreError::Unavailable { operation: "scripted put", .. }), "{e}");
        assert_eq!(inner.puts.load(Ordering::SeqCst), SAMPLES_MIN + 6);
    }

    #[tokio::test]
    async fn a_put_hedge_needs_a_token_of_the_put_budget() {
        let dir = tempfile::tempdir().unwrap();
        let inner = scripted(dir.path());
        // One PUT a second, its one token already spent below.
        let puts = PutBudget::new(1.0);
        let store = Hedged::new(inner.clone(), SETTINGS, Some(puts.clone()));
        let fresh = keys();
        for _ in 0..SAMPLES_MIN {
            store.put_fresh(Bytes::from_static(b"warm"), &fresh).await.unwrap();
        }
        assert!(puts.try_acquire(), "the saved-up token");
        inner.script(&[(Duration::from_millis(300), false)]);
        let key = store.put_fresh(Bytes::from_static(b"slow"), &fresh).await.unwrap();
        assert_eq!(key, format!("k/{}", 2 * SAMPLES_MIN), "no token: the first PUT was waited for");
        assert_eq!(inner.puts.load(Ordering::SeqCst), SAMPLES_MIN + 1);
    }

    #[test]
    fn losing_hedges_back_off_to_a_later_percentile_until_they_win() {
        let mut t = Tracker::new();
        for ms in 1..=112u64 {
            t.record(Duration::from_millis(ms), 95.0);
        }
        assert_eq!(t.threshold, Some(Duration::from_millis(106)));
        // Hedges keep losing: the win rate falls below 10% after 36 losses.
        let mut losses = 0;
        while !t.backed_off {
            t.hedged(false);
            losses += 1;
        }
        assert_eq!(losses, 36);
        assert_eq!(t.percentile(95.0), 99.0);
        // The next sample recomputes at the p99: 113 samples of 1..=113 ms,
        // rank round(112 * 0.99) = 111 -> 112 ms.
        t.record(Duration::from_millis(113), 95.0);
        assert_eq!(t.threshold, Some(Duration::from_millis(112)));
        // Winning again (above 30%) returns to the configured percentile.
        while t.backed_off {
            t.hedged(true);
        }
        assert!(t.win_rate >= WIN_RATE_HIGH);
        t.record(Duration::from_millis(114), 95.0);
        assert_eq!(t.percentile(95.0), 95.0);
        // 114 samples: rank round(113 * 0.95) = 107 -> 108 ms.
        assert_eq!(t.threshold, Some(Duration::from_millis(108)));
    }

    #[test]
    fn the_threshold_is_the_percentile_of_the_window() {
        let mut t = Tracker::new();
        for ms in 1..SAMPLES_MIN as u64 {
            t.record(Duration::from_millis(ms), 95.0);
        }
        assert_eq!(t.threshold, None, "too few samples");
        // Computed at 32 samples, then every 16: at 112 samples of 1..=112
        // ms, rank round(111 * 0.95) = 105 -> 106 ms.
        for ms in SAMPLES_MIN as u64..=112 {
            t.record(Duration::from_millis(ms), 95.0);
        }
        assert_eq!(t.threshold, Some(Duration::from_millis(106)));
        for _ in 0..WINDOW {
            t.record(Duration::from_millis(40), 95.0);
        }
        assert_eq!(t.recent.len(), WINDOW);
        assert_eq!(t.threshold, Some(Duration::from_millis(40)));
    }
}
