//! [`CommitTx`] for the SQLite store: the statements of `commit_object`
//! on its write transaction (see `metadata::commit_flow`).

use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::{row_to_offsets, unavailable};
use crate::metadata::commit_flow::{CommitTx, ProducerKey};
use crate::metadata::{BatchAppend, BatchKind, MetaError, PartitionOffsets};
use crate::producer::ProducerState;

/// [`CommitTx`] on a SQLite write transaction; every call is synchronous.
pub(super) struct SqliteCommit<'a, 'c> {
    pub tx: &'a rusqlite::Transaction<'c>,
}

fn commit_error(e: rusqlite::Error) -> MetaError {
    unavailable("commit_object")(e)
}

impl CommitTx for SqliteCommit<'_, '_> {
    async fn lock_partition(&mut self, _: Uuid, _: i32) -> Result<(), MetaError> {
        // The IMMEDIATE transaction already excludes every other writer.
        Ok(())
    }

    async fn load_producer(
        &mut self,
        (topic_id, partition, producer_id): ProducerKey,
    ) -> Result<Option<(i16, String)>, MetaError> {
        self.tx
            .prepare_cached(
                "SELECT producer_epoch, batches FROM producer_state \
                 WHERE topic_id = ?1 AND partition = ?2 AND producer_id = ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![topic_id.as_bytes().to_vec(), partition, producer_id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            })
            .map_err(commit_error)
    }

    async fn open_txn(
        &mut self,
        (topic_id, partition, producer_id): ProducerKey,
    ) -> Result<Option<(Option<i64>, i16)>, MetaError> {
        self.tx
            .prepare_cached(
                "SELECT first_offset, producer_epoch FROM txn_open \
                 WHERE topic_id = ?1 AND partition = ?2 AND producer_id = ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![topic_id.as_bytes().to_vec(), partition, producer_id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            })
            .map_err(commit_error)
    }

    async fn current_offsets(&mut self, topic_id: Uuid, partition: i32) -> Result<Option<PartitionOffsets>, MetaError> {
        self.tx
            .query_row(
                "SELECT log_start_offset, next_offset, max_timestamp, COALESCE(first_unstable_offset, next_offset) \
                 FROM partitions WHERE topic_id = ?1 AND partition = ?2",
                params![topic_id.as_bytes().to_vec(), partition],
                row_to_offsets,
            )
            .optional()
            .map_err(commit_error)
    }

    async fn advance(
        &mut self,
        topic_id: Uuid,
        partition: i32,
        count: i64,
        max_timestamp: i64,
    ) -> Result<Option<PartitionOffsets>, MetaError> {
        self.tx
            .prepare_cached(
                "UPDATE partitions SET next_offset = next_offset + ?3, max_timestamp = MAX(max_timestamp, ?4) \
                 WHERE topic_id = ?1 AND partition = ?2 RETURNING log_start_offset, next_offset, max_timestamp, \
                 COALESCE(first_unstable_offset, next_offset)",
            )
            .and_then(|mut s| {
                s.query_row(params![topic_id.as_bytes().to_vec(), partition, count, max_timestamp], row_to_offsets)
                    .optional()
            })
            .map_err(commit_error)
    }

    async fn insert_row(
        &mut self,
        b: &BatchAppend,
        object_key: &str,
        base_offset: i64,
        running_max_ts: i64,
    ) -> Result<(), MetaError> {
        self.tx
            .prepare_cached(
                "INSERT INTO batches (topic_id, partition, base_offset, last_offset, object_key, position, length, \
                 max_timestamp, running_max_ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    b.topic_id.as_bytes().to_vec(),
                    b.partition,
                    base_offset,
                    base_offset + i64::from(b.offset_count) - 1,
                    object_key,
                    b.position as i64,
                    i64::from(b.length),
                    b.max_timestamp,
                    running_max_ts
                ])
            })
            .map(drop)
            .map_err(commit_error)
    }

    async fn settle_open_txn(
        &mut self,
        b: &BatchAppend,
        first_offset: Option<i64>,
        base_offset: i64,
    ) -> Result<Option<i64>, MetaError> {
        let id = b.topic_id.as_bytes().to_vec();
        let pid = b.producer.producer_id;
        let tx = self.tx;
        let settle = || -> rusqlite::Result<Option<i64>> {
            match b.kind {
                BatchKind::Transactional if first_offset.is_none() => {
                    tx.execute(
                        "UPDATE txn_open SET first_offset = ?4 \
                         WHERE topic_id = ?1 AND partition = ?2 AND producer_id = ?3",
                        params![id, b.partition, pid, base_offset],
                    )?;
                }
                BatchKind::Marker { commit } => {
                    if let (false, Some(first)) = (commit, first_offset) {
                        tx.execute(
                            "INSERT INTO txn_aborted (topic_id, partition, producer_id, first_offset, last_offset) \
                             VALUES (?1, ?2, ?3, ?4, ?5)",
                            params![id, b.partition, pid, first, base_offset],
                        )?;
                    }
                    tx.execute(
                        "DELETE FROM txn_open WHERE topic_id = ?1 AND partition = ?2 AND producer_id = ?3",
                        params![id, b.partition, pid],
                    )?;
                }
                _ => {}
            }
            tx.query_row(
                "UPDATE partitions SET first_unstable_offset = \
                   (SELECT MIN(first_offset) FROM txn_open WHERE topic_id = ?1 AND partition = ?2) \
                 WHERE topic_id = ?1 AND partition = ?2 RETURNING first_unstable_offset",
                params![id, b.partition],
                |r| r.get(0),
            )
        };
        settle().map_err(commit_error)
    }

    async fn save_producer(
        &mut self,
        (topic_id, partition, producer_id): ProducerKey,
        state: &ProducerState,
        updated_ms: i64,
        last_timestamp: i64,
        coordinator_epoch: i32,
    ) -> Result<(), MetaError> {
        self.tx
            .prepare_cached(
                "INSERT INTO producer_state (topic_id, partition, producer_id, producer_epoch, batches, updated_ms, \
                 last_timestamp, coordinator_epoch) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                 ON CONFLICT (topic_id, partition, producer_id) DO UPDATE SET \
                 producer_epoch = excluded.producer_epoch, batches = excluded.batches, updated_ms = excluded.updated_ms, \
                 last_timestamp = CASE WHEN excluded.last_timestamp >= 0 THEN excluded.last_timestamp \
                   ELSE producer_state.last_timestamp END, \
                 coordinator_epoch = CASE WHEN excluded.coordinator_epoch >= 0 THEN excluded.coordinator_epoch \
                   ELSE producer_state.coordinator_epoch END",
            )
            .and_then(|mut s| {
                s.execute(params![
                    topic_id.as_bytes().to_vec(),
                    partition,
                    producer_id,
                    state.epoch.unwrap_or(-1),
                    state.encode_batches(),
                    updated_ms,
                    last_timestamp,
                    coordinator_epoch
                ])
            })
            .map(drop)
            .map_err(commit_error)
    }
}
