//! [`LogIndex`] on SQLite, with [`CommitTx`]: the statements a commit runs
//! on the write connection.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use super::objects::forget_inline;
use super::{id_bytes, unavailable, SqliteStore};
use crate::metadata::{
    CommitFlow, CommitTx, IndexRow, LogIndex, MetaError, ObjectRecord, ObjectRow, OpenTxn, PartitionOffsets,
    ProducerKey, RowInsert, RowMove,
};

const OFFSETS_COLUMNS: &str =
    "log_start_offset, next_offset, max_timestamp, COALESCE(first_unstable_offset, next_offset)";

/// Offsets from (log start, next, max timestamp, last stable) columns.
fn row_to_offsets(r: &rusqlite::Row<'_>) -> rusqlite::Result<PartitionOffsets> {
    Ok(PartitionOffsets {
        log_start_offset: r.get(0)?,
        next_offset: r.get(1)?,
        max_timestamp: r.get(2)?,
        last_stable_offset: r.get(3)?,
    })
}

fn row_to_index(r: &rusqlite::Row<'_>) -> rusqlite::Result<IndexRow> {
    let key: String = r.get(2)?;
    Ok(IndexRow {
        base_offset: r.get(0)?,
        last_offset: r.get(1)?,
        object_key: Arc::from(key),
        position: r.get::<_, i64>(3)? as u64,
        length: r.get::<_, i64>(4)? as u32,
        max_timestamp: r.get(5)?,
    })
}

/// Points one index row at a new object and position, only if it still
/// points where the move read it: retention, merge and spills may move the
/// same rows concurrently.
const MOVE_ROW_SQL: &str = "UPDATE batches SET object_key = ?5, position = ?4 \
     WHERE topic_id = ?1 AND partition = ?2 AND base_offset = ?3 AND object_key = ?6";

/// Runs [`MOVE_ROW_SQL`] for one row: 1 if it moved, 0 if it had moved on.
fn move_row(
    swap: &mut rusqlite::CachedStatement<'_>,
    topic_id: &[u8],
    partition: i32,
    m: &RowMove,
    to_key: &str,
) -> rusqlite::Result<usize> {
    swap.execute(params![topic_id, partition, m.base_offset, m.position as i64, to_key, m.from_key])
}

/// Records an object, with its bytes when it is an inline object.
fn insert_object(conn: &Connection, o: &ObjectRecord) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO objects (object_key, size_bytes, node_id, created_ms) VALUES (?1, ?2, ?3, ?4)",
        params![o.object_key, o.size_bytes as i64, o.node_id, o.created_ms],
    )?;
    if let Some(data) = &o.data {
        conn.execute(
            "INSERT INTO inline_objects (object_key, data) VALUES (?1, ?2)",
            params![o.object_key, &data[..]],
        )?;
    }
    Ok(())
}

/// Runs blocking work from async code without requiring it to be
/// `'static`: on a multi-threaded runtime the worker hands its other tasks
/// over while this one blocks; elsewhere (single-threaded tests) it runs
/// in place.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Drives a future that never suspends (every await in it is on work done
/// synchronously, as every [`SqliteCommit`] call is) to its output.
fn run_ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => unreachable!("a synchronous store transaction suspended"),
    }
}

#[async_trait]
impl LogIndex for SqliteStore {
    async fn commit_object(
        &self,
        object: &ObjectRecord,
        flow: &mut dyn CommitFlow,
    ) -> Result<Vec<(Uuid, i32, PartitionOffsets)>, MetaError> {
        // The flow borrows from the caller, so the commit cannot move to the
        // blocking pool; it blocks here instead (see `blocking`).
        blocking(|| {
            let err = unavailable("commit_object");
            let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            // A transaction by hand: rusqlite's Transaction borrows the
            // connection shared, which would make the statements' futures
            // unfit for `dyn CommitTx` (they must be Send).
            conn.execute_batch("BEGIN IMMEDIATE").map_err(&err)?;
            let ran = {
                let mut tx = SqliteCommit { conn: &mut conn, object_key: &object.object_key };
                run_ready(flow.run(&mut tx))
            };
            let result = ran.and_then(|advanced| {
                insert_object(&conn, object).map_err(&err)?;
                conn.execute_batch("COMMIT").map_err(&err)?;
                Ok(advanced)
            });
            if result.is_err() && !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            result
        })
    }

    async fn partition_offsets(&self, topic_id: Uuid, partition: i32) -> Result<PartitionOffsets, MetaError> {
        self.read(move |conn| {
            conn.query_row(
                &format!("SELECT {OFFSETS_COLUMNS} FROM partitions WHERE topic_id = ?1 AND partition = ?2"),
                params![id_bytes(topic_id), partition],
                row_to_offsets,
            )
            .optional()
            .map_err(unavailable("partition_offsets"))?
            .ok_or(MetaError::PartitionNotFound { topic_id, partition })
        })
        .await
    }

    async fn all_partition_offsets(&self) -> Result<Vec<(Uuid, i32, PartitionOffsets)>, MetaError> {
        self.read(|conn| {
            let err = unavailable("all_partition_offsets");
            let mut stmt = conn
                .prepare(&format!("SELECT topic_id, partition, {OFFSETS_COLUMNS} FROM partitions"))
                .map_err(&err)?;
            let rows = stmt
                .query_map([], |r| {
                    let id: Vec<u8> = r.get(0)?;
                    let offsets = PartitionOffsets {
                        log_start_offset: r.get(2)?,
                        next_offset: r.get(3)?,
                        max_timestamp: r.get(4)?,
                        last_stable_offset: r.get(5)?,
                    };
                    Ok((Uuid::from_slice(&id).unwrap_or_default(), r.get::<_, i32>(1)?, offsets))
                })
                .map_err(&err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
        })
        .await
    }

    async fn index_rows(
        &self,
        topic_id: Uuid,
        partition: i32,
        from_offset: i64,
        rows_max: u32,
    ) -> Result<Vec<IndexRow>, MetaError> {
        self.read(move |conn| {
            let err = unavailable("index_rows");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT base_offset, last_offset, object_key, position, length, max_timestamp FROM batches \
                     WHERE topic_id = ?1 AND partition = ?2 AND base_offset >= COALESCE( \
                       (SELECT MAX(base_offset) FROM batches WHERE topic_id = ?1 AND partition = ?2 AND base_offset <= ?3), ?3) \
                     ORDER BY base_offset LIMIT ?4",
                )
                .map_err(&err)?;
            let rows = stmt
                .query_map(params![id_bytes(topic_id), partition, from_offset, rows_max], row_to_index)
                .map_err(&err)?;
            let rows: Vec<IndexRow> = rows.collect::<Result<_, _>>().map_err(&err)?;
            // The row found by base_offset <= from may end before `from`
            // (a gap can only follow truncation); drop it.
            Ok(rows.into_iter().filter(|r| r.last_offset >= from_offset).collect())
        })
        .await
    }

    async fn first_row_at_or_after_timestamp(
        &self,
        topic_id: Uuid,
        partition: i32,
        timestamp: i64,
    ) -> Result<Option<IndexRow>, MetaError> {
        self.read(move |conn| {
            conn.query_row(
                "SELECT base_offset, last_offset, object_key, position, length, max_timestamp FROM batches \
                 WHERE topic_id = ?1 AND partition = ?2 AND running_max_ts >= ?3 ORDER BY base_offset LIMIT 1",
                params![id_bytes(topic_id), partition, timestamp],
                row_to_index,
            )
            .optional()
            .map_err(unavailable("first_row_at_or_after_timestamp"))
        })
        .await
    }

    async fn offset_keeping_bytes(
        &self,
        topic_id: Uuid,
        partition: i32,
        keep_bytes: i64,
    ) -> Result<Option<i64>, MetaError> {
        self.read(move |conn| {
            conn.query_row(
                "WITH sized AS (SELECT last_offset, \
                   SUM(length) OVER (ORDER BY base_offset) AS through, SUM(length) OVER () AS total \
                   FROM batches WHERE topic_id = ?1 AND partition = ?2) \
                 SELECT MAX(last_offset) + 1 FROM sized WHERE total - through >= ?3",
                params![id_bytes(topic_id), partition, keep_bytes],
                |r| r.get(0),
            )
            .map_err(unavailable("offset_keeping_bytes"))
        })
        .await
    }

    async fn advance_log_start(
        &self,
        _node_id: i32,
        topic_id: Uuid,
        partition: i32,
        offset: i64,
    ) -> Result<PartitionOffsets, MetaError> {
        self.write(move |conn| {
            let err = unavailable("advance_log_start");
            let id = id_bytes(topic_id);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            let offsets = tx
                .query_row(
                    &format!(
                        "UPDATE partitions SET log_start_offset = MAX(log_start_offset, MIN(?3, next_offset)) \
                         WHERE topic_id = ?1 AND partition = ?2 RETURNING {OFFSETS_COLUMNS}"
                    ),
                    params![id, partition, offset],
                    row_to_offsets,
                )
                .optional()
                .map_err(&err)?
                .ok_or(MetaError::PartitionNotFound { topic_id, partition })?;
            tx.execute(
                "DELETE FROM batches WHERE topic_id = ?1 AND partition = ?2 AND last_offset < ?3",
                params![id, partition, offsets.log_start_offset],
            )
            .map_err(&err)?;
            // Aborted ranges wholly before the log are of no use to readers.
            tx.execute(
                "DELETE FROM txn_aborted WHERE topic_id = ?1 AND partition = ?2 AND last_offset < ?3",
                params![id, partition, offsets.log_start_offset],
            )
            .map_err(&err)?;
            tx.commit().map_err(&err)?;
            Ok(offsets)
        })
        .await
    }

    async fn swap_index_rows(
        &self,
        topic_id: Uuid,
        partition: i32,
        moves: &[RowMove],
        segment: &ObjectRecord,
    ) -> Result<bool, MetaError> {
        let moves = moves.to_vec();
        let segment = segment.clone();
        self.write(move |conn| {
            let err = unavailable("swap_index_rows");
            let id = id_bytes(topic_id);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            {
                let mut swap = tx.prepare_cached(MOVE_ROW_SQL).map_err(&err)?;
                for m in &moves {
                    let n = move_row(&mut swap, &id, partition, m, &segment.object_key).map_err(&err)?;
                    if n != 1 {
                        return Ok(false); // dropping the transaction rolls it back
                    }
                }
            }
            insert_object(&tx, &segment).map_err(&err)?;
            tx.commit().map_err(&err)?;
            Ok(true)
        })
        .await
    }

    async fn rows_in_objects(&self, keys: &[String]) -> Result<Vec<ObjectRow>, MetaError> {
        let keys = keys.to_vec();
        self.read(move |conn| {
            let err = unavailable("rows_in_objects");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT base_offset, last_offset, object_key, position, length, max_timestamp, topic_id, partition \
                     FROM batches WHERE object_key = ?1 ORDER BY position",
                )
                .map_err(&err)?;
            let mut out = Vec::new();
            for key in &keys {
                let rows = stmt
                    .query_map([key], |r| {
                        let id: Vec<u8> = r.get(6)?;
                        Ok(ObjectRow {
                            topic_id: Uuid::from_slice(&id).unwrap_or_default(),
                            partition: r.get(7)?,
                            row: row_to_index(r)?,
                        })
                    })
                    .map_err(&err)?;
                for row in rows {
                    out.push(row.map_err(&err)?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn move_rows(&self, moves: &[(Uuid, i32, RowMove)], object: &ObjectRecord) -> Result<u64, MetaError> {
        let moves = moves.to_vec();
        let object = object.clone();
        self.write(move |conn| {
            let err = unavailable("move_rows");
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            insert_object(&tx, &object).map_err(&err)?;
            let mut moved = 0u64;
            {
                let mut swap = tx.prepare_cached(MOVE_ROW_SQL).map_err(&err)?;
                for (topic_id, partition, m) in &moves {
                    moved += move_row(&mut swap, &id_bytes(*topic_id), *partition, m, &object.object_key)
                        .map_err(&err)? as u64;
                }
                let from: std::collections::BTreeSet<&str> =
                    moves.iter().map(|(_, _, m)| m.from_key.as_str()).collect();
                for key in from {
                    let referenced: bool = tx
                        .query_row("SELECT EXISTS (SELECT 1 FROM batches WHERE object_key = ?1)", [key], |r| r.get(0))
                        .map_err(&err)?;
                    if !referenced {
                        forget_inline(&tx, key).map_err(&err)?;
                    }
                }
            }
            tx.commit().map_err(&err)?;
            Ok(moved)
        })
        .await
    }

    async fn aborted_transactions(
        &self,
        topic_id: Uuid,
        partition: i32,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, MetaError> {
        self.read(move |conn| {
            let err = unavailable("aborted_transactions");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT producer_id, first_offset FROM txn_aborted WHERE topic_id = ?1 AND partition = ?2 \
                     AND last_offset >= ?3 AND first_offset < ?4 ORDER BY first_offset",
                )
                .map_err(&err)?;
            let rows = stmt
                .query_map(params![id_bytes(topic_id), partition, from, to], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(&err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
        })
        .await
    }
}

/// [`CommitTx`] on the write connection inside `BEGIN IMMEDIATE`; every
/// call is synchronous.
struct SqliteCommit<'a> {
    conn: &'a mut Connection,
    object_key: &'a str,
}

fn commit_error(e: rusqlite::Error) -> MetaError {
    unavailable("commit_object")(e)
}

#[async_trait]
impl CommitTx for SqliteCommit<'_> {
    async fn lock_partition(&mut self, _: Uuid, _: i32) -> Result<(), MetaError> {
        // The IMMEDIATE transaction already excludes every other writer.
        Ok(())
    }

    async fn load_producer(
        &mut self,
        (topic_id, partition, producer_id): ProducerKey,
    ) -> Result<Option<(i16, String)>, MetaError> {
        self.conn
            .prepare_cached(
                "SELECT producer_epoch, batches FROM producer_state \
                 WHERE topic_id = ?1 AND partition = ?2 AND producer_id = ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![id_bytes(topic_id), partition, producer_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(commit_error)
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
        self.conn
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
                    id_bytes(topic_id),
                    partition,
                    producer_id,
                    epoch,
                    batches,
                    updated_ms,
                    last_timestamp,
                    coordinator_epoch
                ])
            })
            .map(drop)
            .map_err(commit_error)
    }

    async fn current_offsets(&mut self, topic_id: Uuid, partition: i32) -> Result<Option<PartitionOffsets>, MetaError> {
        self.conn
            .prepare_cached(&format!("SELECT {OFFSETS_COLUMNS} FROM partitions WHERE topic_id = ?1 AND partition = ?2"))
            .and_then(|mut s| s.query_row(params![id_bytes(topic_id), partition], row_to_offsets).optional())
            .map_err(commit_error)
    }

    async fn advance(
        &mut self,
        topic_id: Uuid,
        partition: i32,
        count: i64,
        max_timestamp: i64,
    ) -> Result<Option<PartitionOffsets>, MetaError> {
        self.conn
            .prepare_cached(&format!(
                "UPDATE partitions SET next_offset = next_offset + ?3, max_timestamp = MAX(max_timestamp, ?4) \
                 WHERE topic_id = ?1 AND partition = ?2 RETURNING {OFFSETS_COLUMNS}"
            ))
            .and_then(|mut s| {
                s.query_row(params![id_bytes(topic_id), partition, count, max_timestamp], row_to_offsets).optional()
            })
            .map_err(commit_error)
    }

    async fn insert_row(&mut self, row: &RowInsert) -> Result<(), MetaError> {
        self.conn
            .prepare_cached(
                "INSERT INTO batches (topic_id, partition, base_offset, last_offset, object_key, position, length, \
                 max_timestamp, running_max_ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    id_bytes(row.topic_id),
                    row.partition,
                    row.base_offset,
                    row.last_offset,
                    self.object_key,
                    row.position as i64,
                    i64::from(row.length),
                    row.max_timestamp,
                    row.running_max_timestamp
                ])
            })
            .map(drop)
            .map_err(commit_error)
    }

    async fn open_txn(
        &mut self,
        (topic_id, partition, producer_id): ProducerKey,
    ) -> Result<Option<OpenTxn>, MetaError> {
        self.conn
            .prepare_cached(
                "SELECT first_offset, producer_epoch FROM txn_open \
                 WHERE topic_id = ?1 AND partition = ?2 AND producer_id = ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![id_bytes(topic_id), partition, producer_id], |r| {
                    Ok(OpenTxn { first_offset: r.get(0)?, producer_epoch: r.get(1)? })
                })
                .optional()
            })
            .map_err(commit_error)
    }

    async fn set_txn_first_offset(
        &mut self,
        (topic_id, partition, producer_id): ProducerKey,
        first_offset: i64,
    ) -> Result<(), MetaError> {
        self.conn
            .execute(
                "UPDATE txn_open SET first_offset = ?4 WHERE topic_id = ?1 AND partition = ?2 AND producer_id = ?3",
                params![id_bytes(topic_id), partition, producer_id, first_offset],
            )
            .map(drop)
            .map_err(commit_error)
    }

    async fn close_txn(
        &mut self,
        (topic_id, partition, producer_id): ProducerKey,
        aborted: Option<(i64, i64)>,
    ) -> Result<(), MetaError> {
        let id = id_bytes(topic_id);
        if let Some((first, last)) = aborted {
            self.conn
                .execute(
                    "INSERT INTO txn_aborted (topic_id, partition, producer_id, first_offset, last_offset) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, partition, producer_id, first, last],
                )
                .map_err(commit_error)?;
        }
        self.conn
            .execute(
                "DELETE FROM txn_open WHERE topic_id = ?1 AND partition = ?2 AND producer_id = ?3",
                params![id, partition, producer_id],
            )
            .map(drop)
            .map_err(commit_error)
    }

    async fn refresh_first_unstable(&mut self, topic_id: Uuid, partition: i32) -> Result<Option<i64>, MetaError> {
        self.conn
            .query_row(
                "UPDATE partitions SET first_unstable_offset = \
                   (SELECT MIN(first_offset) FROM txn_open WHERE topic_id = ?1 AND partition = ?2) \
                 WHERE topic_id = ?1 AND partition = ?2 RETURNING first_unstable_offset",
                params![id_bytes(topic_id), partition],
                |r| r.get(0),
            )
            .map_err(commit_error)
    }
}
