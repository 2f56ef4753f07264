//! [`CommitTx`] for the PostgreSQL store: the statements of
//! `commit_object` on its transaction (see `metadata::commit_flow`).

use uuid::Uuid;

use super::{offsets_from, unavailable};
use crate::metadata::commit_flow::{CommitTx, ProducerKey};
use crate::metadata::{BatchAppend, BatchKind, MetaError, PartitionOffsets};
use crate::producer::ProducerState;

/// [`CommitTx`] on a PostgreSQL transaction. Statements are prepared once
/// per connection (deadpool's statement cache).
pub(super) struct PgCommit<'a, 't> {
    pub tx: &'a deadpool_postgres::Transaction<'t>,
}

impl PgCommit<'_, '_> {
    async fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement, MetaError> {
        self.tx.prepare_cached(sql).await.map_err(unavailable("commit_object"))
    }
}

impl CommitTx for PgCommit<'_, '_> {
    async fn lock_partition(&mut self, topic_id: Uuid, partition: i32) -> Result<(), MetaError> {
        let lock = self.statement("SELECT 1 FROM partitions WHERE topic_id = $1 AND partition = $2 FOR UPDATE").await?;
        self.tx.execute(&lock, &[&topic_id, &partition]).await.map_err(unavailable("commit_object"))?;
        Ok(())
    }

    async fn load_producer(
        &mut self,
        (topic_id, partition, producer_id): ProducerKey,
    ) -> Result<Option<(i16, String)>, MetaError> {
        let load = self
            .statement(
                "SELECT producer_epoch, batches FROM producer_state \
                 WHERE topic_id = $1 AND partition = $2 AND producer_id = $3 FOR UPDATE",
            )
            .await?;
        let row = self
            .tx
            .query_opt(&load, &[&topic_id, &partition, &producer_id])
            .await
            .map_err(unavailable("commit_object"))?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    async fn open_txn(
        &mut self,
        (topic_id, partition, producer_id): ProducerKey,
    ) -> Result<Option<(Option<i64>, i16)>, MetaError> {
        let open = self
            .statement(
                "SELECT first_offset, producer_epoch FROM txn_open \
                 WHERE topic_id = $1 AND partition = $2 AND producer_id = $3",
            )
            .await?;
        let row = self
            .tx
            .query_opt(&open, &[&topic_id, &partition, &producer_id])
            .await
            .map_err(unavailable("commit_object"))?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    async fn current_offsets(&mut self, topic_id: Uuid, partition: i32) -> Result<Option<PartitionOffsets>, MetaError> {
        let row = self
            .tx
            .query_opt(
                "SELECT log_start_offset, next_offset, max_timestamp, COALESCE(first_unstable_offset, next_offset) \
                 FROM partitions WHERE topic_id = $1 AND partition = $2",
                &[&topic_id, &partition],
            )
            .await
            .map_err(unavailable("commit_object"))?;
        Ok(row.map(|r| offsets_from(&r, 0)))
    }

    async fn advance(
        &mut self,
        topic_id: Uuid,
        partition: i32,
        count: i64,
        max_timestamp: i64,
    ) -> Result<Option<PartitionOffsets>, MetaError> {
        let advance = self
            .statement(
                "UPDATE partitions SET next_offset = next_offset + $3, max_timestamp = GREATEST(max_timestamp, $4) \
                 WHERE topic_id = $1 AND partition = $2 RETURNING log_start_offset, next_offset, max_timestamp, \
                 COALESCE(first_unstable_offset, next_offset)",
            )
            .await?;
        let row = self
            .tx
            .query_opt(&advance, &[&topic_id, &partition, &count, &max_timestamp])
            .await
            .map_err(unavailable("commit_object"))?;
        Ok(row.map(|r| offsets_from(&r, 0)))
    }

    async fn insert_row(
        &mut self,
        b: &BatchAppend,
        object_key: &str,
        base_offset: i64,
        running_max_ts: i64,
    ) -> Result<(), MetaError> {
        let insert = self
            .statement(
                "INSERT INTO batches (topic_id, partition, base_offset, last_offset, object_key, position, length, \
                 max_timestamp, running_max_ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .await?;
        let last_offset = base_offset + i64::from(b.offset_count) - 1;
        let (position, length) = (b.position as i64, b.length as i32);
        self.tx
            .execute(
                &insert,
                &[
                    &b.topic_id,
                    &b.partition,
                    &base_offset,
                    &last_offset,
                    &object_key,
                    &position,
                    &length,
                    &b.max_timestamp,
                    &running_max_ts,
                ],
            )
            .await
            .map_err(unavailable("commit_object"))?;
        Ok(())
    }

    async fn settle_open_txn(
        &mut self,
        b: &BatchAppend,
        first_offset: Option<i64>,
        base_offset: i64,
    ) -> Result<Option<i64>, MetaError> {
        let e = unavailable("commit_object");
        let pid = b.producer.producer_id;
        match b.kind {
            BatchKind::Transactional if first_offset.is_none() => {
                self.tx
                    .execute(
                        "UPDATE txn_open SET first_offset = $4 \
                         WHERE topic_id = $1 AND partition = $2 AND producer_id = $3",
                        &[&b.topic_id, &b.partition, &pid, &base_offset],
                    )
                    .await
                    .map_err(&e)?;
            }
            BatchKind::Marker { commit } => {
                if let (false, Some(first)) = (commit, first_offset) {
                    self.tx
                        .execute(
                            "INSERT INTO txn_aborted (topic_id, partition, producer_id, first_offset, last_offset) \
                             VALUES ($1, $2, $3, $4, $5)",
                            &[&b.topic_id, &b.partition, &pid, &first, &base_offset],
                        )
                        .await
                        .map_err(&e)?;
                }
                self.tx
                    .execute(
                        "DELETE FROM txn_open WHERE topic_id = $1 AND partition = $2 AND producer_id = $3",
                        &[&b.topic_id, &b.partition, &pid],
                    )
                    .await
                    .map_err(&e)?;
            }
            _ => {}
        }
        let row = self
            .tx
            .query_one(
                "UPDATE partitions SET first_unstable_offset = \
                   (SELECT MIN(first_offset) FROM txn_open WHERE topic_id = $1 AND partition = $2) \
                 WHERE topic_id = $1 AND partition = $2 RETURNING first_unstable_offset",
                &[&b.topic_id, &b.partition],
            )
            .await
            .map_err(&e)?;
        Ok(row.get(0))
    }

    async fn save_producer(
        &mut self,
        (topic_id, partition, producer_id): ProducerKey,
        state: &ProducerState,
        updated_ms: i64,
        last_timestamp: i64,
        coordinator_epoch: i32,
    ) -> Result<(), MetaError> {
        let save = self
            .statement(
                "INSERT INTO producer_state (topic_id, partition, producer_id, producer_epoch, batches, updated_ms, \
                 last_timestamp, coordinator_epoch) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (topic_id, partition, producer_id) DO UPDATE SET \
                 producer_epoch = excluded.producer_epoch, batches = excluded.batches, updated_ms = excluded.updated_ms, \
                 last_timestamp = CASE WHEN excluded.last_timestamp >= 0 THEN excluded.last_timestamp \
                   ELSE producer_state.last_timestamp END, \
                 coordinator_epoch = CASE WHEN excluded.coordinator_epoch >= 0 THEN excluded.coordinator_epoch \
                   ELSE producer_state.coordinator_epoch END",
            )
            .await?;
        let epoch = state.epoch.unwrap_or(-1);
        self.tx
            .execute(
                &save,
                &[
                    &topic_id,
                    &partition,
                    &producer_id,
                    &epoch,
                    &state.encode_batches(),
                    &updated_ms,
                    &last_timestamp,
                    &coordinator_epoch,
                ],
            )
            .await
            .map_err(unavailable("commit_object"))?;
        Ok(())
    }
}
