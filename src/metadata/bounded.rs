//! A time limit on every metadata operation, derived from the trait
//! declarations rather than restated per method.
//!
//! A database that stops answering without closing its connections (a
//! network partition, a stalled server) would otherwise hold a query — and
//! the flush, and every produce behind it — for as long as the stall lasts.
//! [`Bounded`] gives each call `limit` and then fails it with
//! [`MetaError::TimedOut`], which clients see as the retriable
//! REQUEST_TIMED_OUT: the operation may or may not have taken effect.
//! It also records every call's latency by operation.
//!
//! Every store trait is declared through `store_trait!`, which emits the
//! trait and its implementation for `Bounded<S>`: a method added to a trait
//! is bounded and measured without another line written.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{Change, MetaError, MetadataStore};

pub struct Bounded<S> {
    pub(super) inner: S,
    limit: Duration,
}

impl<S> Bounded<S> {
    pub fn new(inner: S, limit: Duration) -> Self {
        Self { inner, limit }
    }

    /// Runs one operation of the inner store within the limit.
    pub(super) async fn run<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, MetaError>>,
    ) -> Result<T, MetaError> {
        let started = Instant::now();
        let result = match tokio::time::timeout(self.limit, call).await {
            Ok(result) => result,
            Err(_) => Err(MetaError::TimedOut { operation, after_ms: self.limit.as_millis() as u64 }),
        };
        metrics::histogram!(crate::metrics::METADATA_OPERATION_SECONDS, "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        result
    }
}

impl<S: MetadataStore> MetadataStore for Bounded<S> {
    fn change_feed(&self) -> Option<tokio::sync::mpsc::Receiver<Change>> {
        self.inner.change_feed()
    }

    fn report_metrics(&self) {
        self.inner.report_metrics()
    }
}

/// Declares a store trait (every method async, taking `&self` and named
/// arguments, returning a `Result<_, MetaError>`) together with its
/// time-limited form on [`Bounded`], where each call is run under the
/// limit and measured under the method's name.
macro_rules! store_trait {
    (
        $(#[$trait_attr:meta])*
        pub trait $name:ident {
            $(
                $(#[$method_attr:meta])*
                async fn $method:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
            )*
        }
    ) => {
        $(#[$trait_attr])*
        #[async_trait::async_trait]
        pub trait $name: Send + Sync + 'static {
            $(
                $(#[$method_attr])*
                async fn $method(&self $(, $arg: $ty)*) -> $ret;
            )*
        }

        #[async_trait::async_trait]
        impl<S: $name> $name for $crate::metadata::bounded::Bounded<S> {
            $(
                async fn $method(&self $(, $arg: $ty)*) -> $ret {
                    self.run(stringify!($method), self.inner.$method($($arg),*)).await
                }
            )*
        }
    };
}

pub(super) use store_trait;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::sqlite::SqliteStore;
    use crate::metadata::{BrokerRegistry, TopicCatalog};

    /// A store that never answers, to see the limit fire.
    struct Stalled;

    store_trait! {
        /// A one-method trait to exercise the macro.
        pub trait Probe {
            async fn answer(&self, after_ms: u64, value: i32) -> Result<i32, MetaError>;
        }
    }

    #[async_trait::async_trait]
    impl Probe for Stalled {
        async fn answer(&self, after_ms: u64, value: i32) -> Result<i32, MetaError> {
            tokio::time::sleep(Duration::from_millis(after_ms)).await;
            Ok(value)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn calls_past_the_limit_fail_as_timed_out() {
        let bounded = Bounded::new(Stalled, Duration::from_millis(100));
        assert_eq!(bounded.answer(99, 7).await.unwrap(), 7);
        match bounded.answer(101, 7).await {
            Err(MetaError::TimedOut { operation: "answer", after_ms: 100 }) => {}
            other => panic!("expected a timeout, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_bounded_store_is_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Bounded::new(SqliteStore::open(&dir.path().join("m.sqlite")).unwrap(), Duration::from_secs(5));
        let id = store.cluster_id().await.unwrap();
        assert_eq!(store.cluster_id().await.unwrap(), id);
        assert!(store.list_topics().await.unwrap().is_empty());
    }
}
