//! A time limit on every metadata operation.
//!
//! A database that stops answering without closing its connections (a
//! network partition, a stalled server) would otherwise hold a query — and
//! the flush, and every produce behind it — for as long as the stall lasts.
//! [`Bounded`] gives each call `limit` and then fails it with
//! [`MetaError::TimedOut`], which clients see as the retriable
//! REQUEST_TIMED_OUT: the operation may or may not have taken effect.
//! It also records every call's latency by operation.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::txn::{TxnMetadata, TxnState};

use super::{
    BrokerRecord, Change, CommitOutcome, CommittedOffset, GroupRecord, IndexRow, MetaError, MetadataStore,
    ObjectCommit, PartitionOffsets, ProducerRecord, RowMove, SegmentRecord, TopicRecord, TxnOffsetsFor,
};

pub struct Bounded<S> {
    inner: S,
    limit: Duration,
}

impl<S: MetadataStore> Bounded<S> {
    pub fn new(inner: S, limit: Duration) -> Self {
        Self { inner, limit }
    }

    async fn run<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, MetaError>>,
    ) -> Result<T, MetaError> {
        let started = std::time::Instant::now();
        let result = match tokio::time::timeout(self.limit, call).await {
            Ok(result) => result,
            Err(_) => Err(MetaError::TimedOut { operation, after_ms: self.limit.as_millis() as u64 }),
        };
        metrics::histogram!(crate::metrics::METADATA_OPERATION_SECONDS, "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        result
    }
}

#[async_trait]
impl<S: MetadataStore> MetadataStore for Bounded<S> {
    async fn cluster_id(&self) -> Result<String, MetaError> {
        self.run("cluster_id", self.inner.cluster_id()).await
    }

    async fn create_topic(&self, topic: &TopicRecord) -> Result<(), MetaError> {
        self.run("create_topic", self.inner.create_topic(topic)).await
    }

    async fn delete_topic(&self, name: &str) -> Result<TopicRecord, MetaError> {
        self.run("delete_topic", self.inner.delete_topic(name)).await
    }

    async fn list_topics(&self) -> Result<Vec<TopicRecord>, MetaError> {
        self.run("list_topics", self.inner.list_topics()).await
    }

    async fn commit_object(&self, commit: &ObjectCommit) -> Result<CommitOutcome, MetaError> {
        self.run("commit_object", self.inner.commit_object(commit)).await
    }

    async fn partition_offsets(&self, topic_id: Uuid, partition: i32) -> Result<PartitionOffsets, MetaError> {
        self.run("partition_offsets", self.inner.partition_offsets(topic_id, partition)).await
    }

    async fn index_rows(
        &self,
        topic_id: Uuid,
        partition: i32,
        from_offset: i64,
        rows_max: u32,
    ) -> Result<Vec<IndexRow>, MetaError> {
        self.run("index_rows", self.inner.index_rows(topic_id, partition, from_offset, rows_max)).await
    }

    async fn first_row_at_or_after_timestamp(
        &self,
        topic_id: Uuid,
        partition: i32,
        timestamp: i64,
    ) -> Result<Option<IndexRow>, MetaError> {
        let call = self.inner.first_row_at_or_after_timestamp(topic_id, partition, timestamp);
        self.run("first_row_at_or_after_timestamp", call).await
    }

    async fn unreferenced_objects(&self) -> Result<Vec<String>, MetaError> {
        self.run("unreferenced_objects", self.inner.unreferenced_objects()).await
    }

    async fn known_objects(&self, keys: &[String]) -> Result<HashSet<String>, MetaError> {
        self.run("known_objects", self.inner.known_objects(keys)).await
    }

    async fn allocate_producer_id(&self) -> Result<i64, MetaError> {
        self.run("allocate_producer_id", self.inner.allocate_producer_id()).await
    }

    async fn list_groups(&self) -> Result<Vec<GroupRecord>, MetaError> {
        self.run("list_groups", self.inner.list_groups()).await
    }

    async fn commit_offsets(&self, group: &GroupRecord, offsets: &[CommittedOffset]) -> Result<(), MetaError> {
        self.run("commit_offsets", self.inner.commit_offsets(group, offsets)).await
    }

    async fn fetch_offsets(&self, group_id: &str) -> Result<Vec<CommittedOffset>, MetaError> {
        self.run("fetch_offsets", self.inner.fetch_offsets(group_id)).await
    }

    async fn delete_offsets(&self, group_id: &str, which: Option<&[(String, i32)]>) -> Result<(), MetaError> {
        self.run("delete_offsets", self.inner.delete_offsets(group_id, which)).await
    }

    async fn forget_object(&self, key: &str) -> Result<(), MetaError> {
        self.run("forget_object", self.inner.forget_object(key)).await
    }

    async fn offset_keeping_bytes(
        &self,
        topic_id: Uuid,
        partition: i32,
        keep_bytes: i64,
    ) -> Result<Option<i64>, MetaError> {
        self.run("offset_keeping_bytes", self.inner.offset_keeping_bytes(topic_id, partition, keep_bytes)).await
    }

    async fn advance_log_start(
        &self,
        node_id: i32,
        topic_id: Uuid,
        partition: i32,
        offset: i64,
    ) -> Result<PartitionOffsets, MetaError> {
        self.run("advance_log_start", self.inner.advance_log_start(node_id, topic_id, partition, offset)).await
    }

    async fn swap_index_rows(
        &self,
        topic_id: Uuid,
        partition: i32,
        moves: &[RowMove],
        segment: &SegmentRecord,
    ) -> Result<bool, MetaError> {
        self.run("swap_index_rows", self.inner.swap_index_rows(topic_id, partition, moves, segment)).await
    }

    async fn aborted_transactions(
        &self,
        topic_id: Uuid,
        partition: i32,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, MetaError> {
        self.run("aborted_transactions", self.inner.aborted_transactions(topic_id, partition, from, to)).await
    }

    async fn load_transaction(&self, transactional_id: &str) -> Result<Option<TxnMetadata>, MetaError> {
        self.run("load_transaction", self.inner.load_transaction(transactional_id)).await
    }

    async fn list_transactions(&self) -> Result<Vec<TxnMetadata>, MetaError> {
        self.run("list_transactions", self.inner.list_transactions()).await
    }

    async fn save_transaction(
        &self,
        txn: &TxnMetadata,
        expected: Option<(i64, i16, TxnState)>,
        open: &[(Uuid, i32)],
    ) -> Result<bool, MetaError> {
        self.run("save_transaction", self.inner.save_transaction(txn, expected, open)).await
    }

    async fn stage_txn_offsets(
        &self,
        group: &GroupRecord,
        txn: &TxnOffsetsFor,
        offsets: &[CommittedOffset],
    ) -> Result<(), MetaError> {
        self.run("stage_txn_offsets", self.inner.stage_txn_offsets(group, txn, offsets)).await
    }

    async fn settle_txn_offsets(&self, producer_id: i64, groups: &[String], commit: bool) -> Result<u64, MetaError> {
        self.run("settle_txn_offsets", self.inner.settle_txn_offsets(producer_id, groups, commit)).await
    }

    async fn pending_txn_offsets(&self, group_id: &str) -> Result<Vec<(String, i32)>, MetaError> {
        self.run("pending_txn_offsets", self.inner.pending_txn_offsets(group_id)).await
    }

    async fn count_producers(&self) -> Result<u64, MetaError> {
        self.run("count_producers", self.inner.count_producers()).await
    }

    async fn partition_producers(&self, topic_id: Uuid, partition: i32) -> Result<Vec<ProducerRecord>, MetaError> {
        self.run("partition_producers", self.inner.partition_producers(topic_id, partition)).await
    }

    async fn delete_transaction(
        &self,
        transactional_id: &str,
        expected: (i64, i16, TxnState),
    ) -> Result<bool, MetaError> {
        self.run("delete_transaction", self.inner.delete_transaction(transactional_id, expected)).await
    }

    async fn expire_producers(&self, before_ms: i64) -> Result<u64, MetaError> {
        self.run("expire_producers", self.inner.expire_producers(before_ms)).await
    }

    async fn all_partition_offsets(&self) -> Result<Vec<(Uuid, i32, PartitionOffsets)>, MetaError> {
        self.run("all_partition_offsets", self.inner.all_partition_offsets()).await
    }

    async fn register_broker(&self, node_id: i32, host: &str, port: i32, now_ms: i64) -> Result<i64, MetaError> {
        self.run("register_broker", self.inner.register_broker(node_id, host, port, now_ms)).await
    }

    async fn heartbeat_broker(&self, node_id: i32, epoch: i64, now_ms: i64) -> Result<bool, MetaError> {
        self.run("heartbeat_broker", self.inner.heartbeat_broker(node_id, epoch, now_ms)).await
    }

    async fn live_brokers(&self, since_ms: i64) -> Result<Vec<BrokerRecord>, MetaError> {
        self.run("live_brokers", self.inner.live_brokers(since_ms)).await
    }

    fn change_feed(&self) -> Option<tokio::sync::mpsc::Receiver<Change>> {
        self.inner.change_feed()
    }

    fn report_metrics(&self) {
        self.inner.report_metrics()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store whose every call hangs, like a database behind a stalled
    /// network; only the call under test is reached.
    struct Stalled;

    #[async_trait]
    impl MetadataStore for Stalled {
        async fn cluster_id(&self) -> Result<String, MetaError> {
            std::future::pending().await
        }
        async fn create_topic(&self, _: &TopicRecord) -> Result<(), MetaError> {
            unreachable!()
        }
        async fn delete_topic(&self, _: &str) -> Result<TopicRecord, MetaError> {
            unreachable!()
        }
        async fn list_topics(&self) -> Result<Vec<TopicRecord>, MetaError> {
            unreachable!()
        }
        async fn commit_object(&self, _: &ObjectCommit) -> Result<CommitOutcome, MetaError> {
            std::future::pending().await
        }
        async fn partition_offsets(&self, _: Uuid, _: i32) -> Result<PartitionOffsets, MetaError> {
            unreachable!()
        }
        async fn index_rows(&self, _: Uuid, _: i32, _: i64, _: u32) -> Result<Vec<IndexRow>, MetaError> {
            unreachable!()
        }
        async fn first_row_at_or_after_timestamp(
            &self,
            _: Uuid,
            _: i32,
            _: i64,
        ) -> Result<Option<IndexRow>, MetaError> {
            unreachable!()
        }
        async fn unreferenced_objects(&self) -> Result<Vec<String>, MetaError> {
            unreachable!()
        }
        async fn known_objects(&self, _: &[String]) -> Result<HashSet<String>, MetaError> {
            unreachable!()
        }
        async fn allocate_producer_id(&self) -> Result<i64, MetaError> {
            unreachable!()
        }
        async fn list_groups(&self) -> Result<Vec<GroupRecord>, MetaError> {
            unreachable!()
        }
        async fn commit_offsets(&self, _: &GroupRecord, _: &[CommittedOffset]) -> Result<(), MetaError> {
            unreachable!()
        }
        async fn fetch_offsets(&self, _: &str) -> Result<Vec<CommittedOffset>, MetaError> {
            unreachable!()
        }
        async fn delete_offsets(&self, _: &str, _: Option<&[(String, i32)]>) -> Result<(), MetaError> {
            unreachable!()
        }
        async fn forget_object(&self, _: &str) -> Result<(), MetaError> {
            unreachable!()
        }
        async fn offset_keeping_bytes(&self, _: Uuid, _: i32, _: i64) -> Result<Option<i64>, MetaError> {
            unreachable!()
        }
        async fn advance_log_start(&self, _: i32, _: Uuid, _: i32, _: i64) -> Result<PartitionOffsets, MetaError> {
            unreachable!()
        }
        async fn swap_index_rows(&self, _: Uuid, _: i32, _: &[RowMove], _: &SegmentRecord) -> Result<bool, MetaError> {
            unreachable!()
        }
        async fn expire_producers(&self, _: i64) -> Result<u64, MetaError> {
            unreachable!()
        }
        async fn stage_txn_offsets(
            &self,
            _: &GroupRecord,
            _: &TxnOffsetsFor,
            _: &[CommittedOffset],
        ) -> Result<(), MetaError> {
            unreachable!()
        }
        async fn settle_txn_offsets(&self, _: i64, _: &[String], _: bool) -> Result<u64, MetaError> {
            unreachable!()
        }
        async fn pending_txn_offsets(&self, _: &str) -> Result<Vec<(String, i32)>, MetaError> {
            unreachable!()
        }
        async fn partition_producers(&self, _: Uuid, _: i32) -> Result<Vec<ProducerRecord>, MetaError> {
            unreachable!()
        }
        async fn count_producers(&self) -> Result<u64, MetaError> {
            unreachable!()
        }
        async fn delete_transaction(&self, _: &str, _: (i64, i16, TxnState)) -> Result<bool, MetaError> {
            unreachable!()
        }
        async fn aborted_transactions(&self, _: Uuid, _: i32, _: i64, _: i64) -> Result<Vec<(i64, i64)>, MetaError> {
            unreachable!()
        }
        async fn load_transaction(&self, _: &str) -> Result<Option<TxnMetadata>, MetaError> {
            unreachable!()
        }
        async fn list_transactions(&self) -> Result<Vec<TxnMetadata>, MetaError> {
            unreachable!()
        }
        async fn save_transaction(
            &self,
            _: &TxnMetadata,
            _: Option<(i64, i16, TxnState)>,
            _: &[(Uuid, i32)],
        ) -> Result<bool, MetaError> {
            unreachable!()
        }
        async fn all_partition_offsets(&self) -> Result<Vec<(Uuid, i32, PartitionOffsets)>, MetaError> {
            unreachable!()
        }
        async fn register_broker(&self, _: i32, _: &str, _: i32, _: i64) -> Result<i64, MetaError> {
            unreachable!()
        }
        async fn heartbeat_broker(&self, _: i32, _: i64, _: i64) -> Result<bool, MetaError> {
            unreachable!()
        }
        async fn live_brokers(&self, _: i64) -> Result<Vec<BrokerRecord>, MetaError> {
            unreachable!()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_call_fails_with_timed_out_after_the_limit() {
        let store = Bounded::new(Stalled, Duration::from_secs(10));
        let started = tokio::time::Instant::now();
        let commit =
            ObjectCommit { object_key: "k".into(), size_bytes: 0, node_id: 1, created_ms: 0, batches: Vec::new() };
        match store.commit_object(&commit).await {
            Err(MetaError::TimedOut { operation: "commit_object", after_ms: 10_000 }) => {}
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        assert!(matches!(store.cluster_id().await, Err(MetaError::TimedOut { operation: "cluster_id", .. })));
    }
}
