//! [`LogIndex`] on PostgreSQL, with [`CommitTx`]: the statements a commit
//! runs on its transaction. Every commit and log-start move notifies the
//! other brokers of the partitions' new offsets.

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::feed::{partition_payloads, CHANNEL};
use super::{unavailable, PostgresStore};
use crate::metadata::{
    CommitFlow, CommitTx, IndexRow, LogIndex, MetaError, ObjectRecord, ObjectRow, OpenTxn, PartitionOffsets,
    ProducerKey, RowInsert, RowMove,
};

const OFFSETS_COLUMNS: &str =
    "log_start_offset, next_offset, max_timestamp, COALESCE(first_unstable_offset, next_offset)";
const INDEX_COLUMNS: &str = "base_offset, last_offset, object_key, position, length, max_timestamp";

/// Offsets from four columns from `at`: log start, next, max timestamp,
/// last stable.
fn offsets_from(r: &tokio_postgres::Row, at: usize) -> PartitionOffsets {
    PartitionOffsets {
        log_start_offset: r.get(at),
        next_offset: r.get(at + 1),
        max_timestamp: r.get(at + 2),
        last_stable_offset: r.get(at + 3),
    }
}

fn row_to_index(r: &tokio_postgres::Row) -> IndexRow {
    let key: String = r.get(2);
    IndexRow {
        base_offset: r.get(0),
        last_offset: r.get(1),
        object_key: Arc::from(key),
        position: r.get::<_, i64>(3) as u64,
        length: r.get::<_, i32>(4) as u32,
        max_timestamp: r.get(5),
    }
}

/// Points one index row ($1 topic, $2 partition, $3 base offset) at a new
/// object ($5) and position ($4), only if it still points at $6: retention,
/// merge and spills may move the same rows concurrently.
const MOVE_ROW_SQL: &str = "UPDATE batches SET object_key = $5, position = $4 \
     WHERE topic_id = $1 AND partition = $2 AND base_offset = $3 AND object_key = $6";

/// Records an object, with its bytes when it is an inline object.
async fn insert_object(tx: &deadpool_postgres::Transaction<'_>, o: &ObjectRecord) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO objects (object_key, size_bytes, node_id, created_ms) VALUES ($1, $2, $3, $4)",
        &[&o.object_key, &(o.size_bytes as i64), &o.node_id, &o.created_ms],
    )
    .await?;
    if let Some(data) = &o.data {
        tx.execute("INSERT INTO inline_objects (object_key, data) VALUES ($1, $2)", &[&o.object_key, &&data[..]])
            .await?;
    }
    Ok(())
}

#[async_trait]
impl LogIndex for PostgresStore {
    async fn commit_object(
        &self,
        object: &ObjectRecord,
        flow: &mut dyn CommitFlow,
    ) -> Result<Vec<(Uuid, i32, PartitionOffsets)>, MetaError> {
        let e = unavailable("commit_object");
        let mut c = self.client("commit_object").await?;
        let tx = c.transaction().await.map_err(&e)?;
        let advanced = flow.run(&mut PgCommit { tx: &tx, object_key: &object.object_key }).await?;
        insert_object(&tx, object).await.map_err(&e)?;
        for payload in partition_payloads(object.node_id, &advanced) {
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).await.map_err(&e)?;
        }
        tx.commit().await.map_err(&e)?;
        Ok(advanced)
    }

    async fn partition_offsets(&self, topic_id: Uuid, partition: i32) -> Result<PartitionOffsets, MetaError> {
        let c = self.client("partition_offsets").await?;
        let row = c
            .query_opt(
                "SELECT log_start_offset, next_offset, max_timestamp, COALESCE(first_unstable_offset, next_offset) \
                 FROM partitions WHERE topic_id = $1 AND partition = $2",
                &[&topic_id, &partition],
            )
            .await
            .map_err(unavailable("partition_offsets"))?;
        let row = row.ok_or(MetaError::PartitionNotFound { topic_id, partition })?;
        Ok(offsets_from(&row, 0))
    }

    async fn index_rows(
        &self,
        topic_id: Uuid,
        partition: i32,
        from_offset: i64,
        rows_max: u32,
    ) -> Result<Vec<IndexRow>, MetaError> {
        let c = self.client("index_rows").await?;
        let sql = format!(
            "SELECT {INDEX_COLUMNS} FROM batches WHERE topic_id = $1 AND partition = $2 AND base_offset >= COALESCE( \
               (SELECT MAX(base_offset) FROM batches WHERE topic_id = $1 AND partition = $2 AND base_offset <= $3), $3) \
             ORDER BY base_offset LIMIT $4"
        );
        let rows = c
            .query(&sql, &[&topic_id, &partition, &from_offset, &i64::from(rows_max)])
            .await
            .map_err(unavailable("index_rows"))?;
        Ok(rows.iter().map(row_to_index).filter(|r| r.last_offset >= from_offset).collect())
    }

    async fn first_row_at_or_after_timestamp(
        &self,
        topic_id: Uuid,
        partition: i32,
        timestamp: i64,
    ) -> Result<Option<IndexRow>, MetaError> {
        let c = self.client("first_row_at_or_after_timestamp").await?;
        let sql = format!(
            "SELECT {INDEX_COLUMNS} FROM batches WHERE topic_id = $1 AND partition = $2 AND running_max_ts >= $3 \
             ORDER BY base_offset LIMIT 1"
        );
        let row = c
            .query_opt(&sql, &[&topic_id, &partition, &timestamp])
            .await
            .map_err(unavailable("first_row_at_or_after_timestamp"))?;
        Ok(row.as_ref().map(row_to_index))
    }

    async fn all_partition_offsets(&self) -> Result<Vec<(Uuid, i32, PartitionOffsets)>, MetaError> {
        let c = self.client("all_partition_offsets").await?;
        let rows = c
            .query(
                "SELECT topic_id, partition, log_start_offset, next_offset, max_timestamp, \
                 COALESCE(first_unstable_offset, next_offset) FROM partitions",
                &[],
            )
            .await
            .map_err(unavailable("all_partition_offsets"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), offsets_from(r, 2))).collect())
    }

    async fn offset_keeping_bytes(
        &self,
        topic_id: Uuid,
        partition: i32,
        keep_bytes: i64,
    ) -> Result<Option<i64>, MetaError> {
        let c = self.client("offset_keeping_bytes").await?;
        let row = c
            .query_one(
                "WITH sized AS (SELECT last_offset, \
                   SUM(length) OVER (ORDER BY base_offset) AS through, SUM(length) OVER () AS total \
                   FROM batches WHERE topic_id = $1 AND partition = $2) \
                 SELECT MAX(last_offset) + 1 FROM sized WHERE total - through >= $3",
                &[&topic_id, &partition, &keep_bytes],
            )
            .await
            .map_err(unavailable("offset_keeping_bytes"))?;
        Ok(row.get(0))
    }

    async fn advance_log_start(
        &self,
        node_id: i32,
        topic_id: Uuid,
        partition: i32,
        offset: i64,
    ) -> Result<PartitionOffsets, MetaError> {
        let e = unavailable("advance_log_start");
        let mut c = self.client("advance_log_start").await?;
        let tx = c.transaction().await.map_err(&e)?;
        let row = tx
            .query_opt(
                "UPDATE partitions SET log_start_offset = GREATEST(log_start_offset, LEAST($3, next_offset)) \
                 WHERE topic_id = $1 AND partition = $2 RETURNING log_start_offset, next_offset, max_timestamp, \
                 COALESCE(first_unstable_offset, next_offset)",
                &[&topic_id, &partition, &offset],
            )
            .await
            .map_err(&e)?
            .ok_or(MetaError::PartitionNotFound { topic_id, partition })?;
        let offsets = offsets_from(&row, 0);
        tx.execute(
            "DELETE FROM batches WHERE topic_id = $1 AND partition = $2 AND last_offset < $3",
            &[&topic_id, &partition, &offsets.log_start_offset],
        )
        .await
        .map_err(&e)?;
        // Aborted ranges wholly before the log are of no use to readers.
        tx.execute(
            "DELETE FROM txn_aborted WHERE topic_id = $1 AND partition = $2 AND last_offset < $3",
            &[&topic_id, &partition, &offsets.log_start_offset],
        )
        .await
        .map_err(&e)?;
        for payload in partition_payloads(node_id, &[(topic_id, partition, offsets)]) {
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).await.map_err(&e)?;
        }
        tx.commit().await.map_err(&e)?;
        Ok(offsets)
    }

    async fn swap_index_rows(
        &self,
        topic_id: Uuid,
        partition: i32,
        moves: &[RowMove],
        segment: &ObjectRecord,
    ) -> Result<bool, MetaError> {
        let e = unavailable("swap_index_rows");
        let mut c = self.client("swap_index_rows").await?;
        let tx = c.transaction().await.map_err(&e)?;
        let swap = tx.prepare_cached(MOVE_ROW_SQL).await.map_err(&e)?;
        for m in moves {
            let position = m.position as i64;
            let n = tx
                .execute(&swap, &[&topic_id, &partition, &m.base_offset, &position, &segment.object_key, &m.from_key])
                .await
                .map_err(&e)?;
            if n != 1 {
                tx.rollback().await.map_err(&e)?;
                return Ok(false);
            }
        }
        insert_object(&tx, segment).await.map_err(&e)?;
        tx.commit().await.map_err(&e)?;
        Ok(true)
    }

    async fn rows_in_objects(&self, keys: &[String]) -> Result<Vec<ObjectRow>, MetaError> {
        let c = self.client("rows_in_objects").await?;
        let sql = format!(
            "SELECT {INDEX_COLUMNS}, topic_id, partition FROM batches WHERE object_key = ANY($1) \
             ORDER BY object_key, position"
        );
        let rows = c.query(&sql, &[&keys]).await.map_err(unavailable("rows_in_objects"))?;
        Ok(rows.iter().map(|r| ObjectRow { topic_id: r.get(6), partition: r.get(7), row: row_to_index(r) }).collect())
    }

    async fn move_rows(&self, moves: &[(Uuid, i32, RowMove)], object: &ObjectRecord) -> Result<u64, MetaError> {
        let e = unavailable("move_rows");
        let mut c = self.client("move_rows").await?;
        let tx = c.transaction().await.map_err(&e)?;
        insert_object(&tx, object).await.map_err(&e)?;
        let swap = tx.prepare_cached(MOVE_ROW_SQL).await.map_err(&e)?;
        let mut moved = 0;
        for (topic_id, partition, m) in moves {
            let position = m.position as i64;
            moved += tx
                .execute(&swap, &[topic_id, partition, &m.base_offset, &position, &object.object_key, &m.from_key])
                .await
                .map_err(&e)?;
        }
        let from: std::collections::BTreeSet<&str> = moves.iter().map(|(_, _, m)| m.from_key.as_str()).collect();
        let from: Vec<&str> = from.into_iter().collect();
        // Inline objects no row references any more go now, bytes and record.
        tx.execute(
            "WITH gone AS (DELETE FROM inline_objects i WHERE i.object_key = ANY($1) \
               AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.object_key = i.object_key) RETURNING i.object_key) \
             DELETE FROM objects WHERE object_key IN (SELECT object_key FROM gone)",
            &[&from],
        )
        .await
        .map_err(&e)?;
        tx.commit().await.map_err(&e)?;
        Ok(moved)
    }

    async fn aborted_transactions(
        &self,
        topic_id: Uuid,
        partition: i32,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, MetaError> {
        let c = self.client("aborted_transactions").await?;
        let rows = c
            .query(
                "SELECT producer_id, first_offset FROM txn_aborted WHERE topic_id = $1 AND partition = $2 \
                 AND last_offset >= $3 AND first_offset < $4 ORDER BY first_offset",
                &[&topic_id, &partition, &from, &to],
            )
            .await
            .map_err(unavailable("aborted_transactions"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

/// [`CommitTx`] on the commit's PostgreSQL transaction. Statements are
/// prepared once per connection (deadpool's statement cache).
struct PgCommit<'a, 't> {
    tx: &'a deadpool_postgres::Transaction<'t>,
    object_key: &'a str,
}

impl PgCommit<'_, '_> {
    async fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement, MetaError> {
        self.tx.prepare_cached(sql).await.map_err(unavailable("commit_object"))
    }

    /// Runs a prepared statement; the rows it changed.
    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, MetaError> {
        let statement = self.statement(sql).await?;
        self.tx.execute(&statement, params).await.map_err(unavailable("commit_object"))
    }

    /// Runs a prepared statement returning at most one row.
    async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>, MetaError> {
        let statement = self.statement(sql).await?;
        self.tx.query_opt(&statement, params).await.map_err(unavailable("commit_object"))
    }
}

#[async_trait]
impl CommitTx for PgCommit<'_, '_> {
    async fn lock_partition(&mut self, topic_id: Uuid, partition: i32) -> Result<(), MetaError> {
        self.execute(
            "SELECT 1 FROM partitions WHERE topic_id = $1 AND partition = $2 FOR UPDATE",
            &[&topic_id, &partition],
        )
        .await
        .map(drop)
    }

    async fn load_producer(
        &mut self,
        (topic_id, partition, producer_id): ProducerKey,
    ) -> Result<Option<(i16, String)>, MetaError> {
        let row = self
            .query_opt(
                "SELECT producer_epoch, batches FROM producer_state \
                 WHERE topic_id = $1 AND partition = $2 AND producer_id = $3 FOR UPDATE",
                &[&topic_id, &partition, &producer_id],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    async fn save_producer(
        &mut self,
        (topic_id, partition, producer_id): ProducerKey,
        epoch: i16,
        batches: &str,
        updated_ms: i64,
        last_timestamp: i64,
        coordinator_epoch: i32,
    ) -> Result<(), MetaError> {
        self.execute(
            "INSERT INTO producer_state (topic_id, partition, producer_id, producer_epoch, batches, updated_ms, \
             last_timestamp, coordinator_epoch) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (topic_id, partition, producer_id) DO UPDATE SET \
             producer_epoch = excluded.producer_epoch, batches = excluded.batches, updated_ms = excluded.updated_ms, \
             last_timestamp = CASE WHEN excluded.last_timestamp >= 0 THEN excluded.last_timestamp \
               ELSE producer_state.last_timestamp END, \
             coordinator_epoch = CASE WHEN excluded.coordinator_epoch >= 0 THEN excluded.coordinator_epoch \
               ELSE producer_state.coordinator_epoch END",
            &[&topic_id, &partition, &producer_id, &epoch, &batches, &updated_ms, &last_timestamp, &coordinator_epoch],
        )
        .await
        .map(drop)
    }

    async fn current_offsets(&mut self, topic_id: Uuid, partition: i32) -> Result<Option<PartitionOffsets>, MetaError> {
        let sql = format!("SELECT {OFFSETS_COLUMNS} FROM partitions WHERE topic_id = $1 AND partition = $2");
        let row = self.query_opt(&sql, &[&topic_id, &partition]).await?;
        Ok(row.map(|r| offsets_from(&r, 0)))
    }

    async fn advance(
        &mut self,
        topic_id: Uuid,
        partition: i32,
        count: i64,
        max_timestamp: i64,
    ) -> Result<Option<PartitionOffsets>, MetaError> {
        let sql = format!(
            "UPDATE partitions SET next_offset = next_offset + $3, max_timestamp = GREATEST(max_timestamp, $4) \
             WHERE topic_id = $1 AND partition = $2 RETURNING {OFFSETS_COLUMNS}"
        );
        let row = self.query_opt(&sql, &[&topic_id, &partition, &count, &max_timestamp]).await?;
        Ok(row.map(|r| offsets_from(&r, 0)))
    }

    async fn insert_row(&mut self, row: &RowInsert) -> Result<(), MetaError> {
        let (position, length) = (row.position as i64, row.length as i32);
        self.execute(
            "INSERT INTO batches (topic_id, partition, base_offset, last_offset, object_key, position, length, \
             max_timestamp, running_max_ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &row.topic_id,
                &row.partition,
                &row.base_offset,
                &row.last_offset,
                &self.object_key,
                &position,
                &length,
                &row.max_timestamp,
                &row.running_max_timestamp,
            ],
        )
        .await
        .map(drop)
    }

    async fn open_txn(
        &mut self,
        (topic_id, partition, producer_id): ProducerKey,
    ) -> Result<Option<OpenTxn>, MetaError> {
        let row = self
            .query_opt(
                "SELECT first_offset, producer_epoch FROM txn_open \
                 WHERE topic_id = $1 AND partition = $2 AND producer_id = $3",
                &[&topic_id, &partition, &producer_id],
            )
            .await?;
        Ok(row.map(|r| OpenTxn { first_offset: r.get(0), producer_epoch: r.get(1) }))
    }

    async fn set_txn_first_offset(
        &mut self,
        (topic_id, partition, producer_id): ProducerKey,
        first_offset: i64,
    ) -> Result<(), MetaError> {
        self.execute(
            "UPDATE txn_open SET first_offset = $4 WHERE topic_id = $1 AND partition = $2 AND producer_id = $3",
            &[&topic_id, &partition, &producer_id, &first_offset],
        )
        .await
        .map(drop)
    }

    async fn close_txn(
        &mut self,
        (topic_id, partition, producer_id): ProducerKey,
        aborted: Option<(i64, i64)>,
    ) -> Result<(), MetaError> {
        if let Some((first, last)) = aborted {
            self.execute(
                "INSERT INTO txn_aborted (topic_id, partition, producer_id, first_offset, last_offset) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[&topic_id, &partition, &producer_id, &first, &last],
            )
            .await?;
        }
        self.execute(
            "DELETE FROM txn_open WHERE topic_id = $1 AND partition = $2 AND producer_id = $3",
            &[&topic_id, &partition, &producer_id],
        )
        .await
        .map(drop)
    }

    async fn refresh_first_unstable(&mut self, topic_id: Uuid, partition: i32) -> Result<Option<i64>, MetaError> {
        let row = self
            .query_opt(
                "UPDATE partitions SET first_unstable_offset = \
                   (SELECT MIN(first_offset) FROM txn_open WHERE topic_id = $1 AND partition = $2) \
                 WHERE topic_id = $1 AND partition = $2 RETURNING first_unstable_offset",
                &[&topic_id, &partition],
            )
            .await?;
        Ok(row.and_then(|r| r.get(0)))
    }
}
