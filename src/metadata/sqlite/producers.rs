//! [`ProducerStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use super::{id_bytes, unavailable, SqliteStore};
use crate::metadata::producers::{TxnVersion, TXN_COLUMNS};
use crate::metadata::{MetaError, ProducerRecord, ProducerStore, TxnRecord};

/// A [`TxnRecord`] from the [`TXN_COLUMNS`]; the inner error is damage.
pub(super) fn row_to_txn(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<TxnRecord, MetaError>> {
    let (partitions, groups): (String, String) = (r.get(5)?, r.get(6)?);
    Ok(TxnRecord::from_columns(
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        &partitions,
        &groups,
        r.get(7)?,
        r.get(8)?,
    ))
}

#[async_trait]
impl ProducerStore for SqliteStore {
    async fn allocate_producer_id(&self) -> Result<i64, MetaError> {
        self.write(|conn| {
            conn.query_row("UPDATE producer_id_counter SET next_id = next_id + 1 RETURNING next_id - 1", [], |r| {
                r.get(0)
            })
            .map_err(unavailable("allocate_producer_id"))
        })
        .await
    }

    async fn expire_producers(&self, before_ms: i64) -> Result<u64, MetaError> {
        self.write(move |conn| {
            let n = conn
                .execute("DELETE FROM producer_state WHERE updated_ms < ?1", [before_ms])
                .map_err(unavailable("expire_producers"))?;
            Ok(n as u64)
        })
        .await
    }

    async fn count_producers(&self) -> Result<u64, MetaError> {
        self.read(|conn| {
            let n: i64 = conn
                .query_row("SELECT COUNT(DISTINCT producer_id) FROM producer_state", [], |r| r.get(0))
                .map_err(unavailable("count_producers"))?;
            Ok(n as u64)
        })
        .await
    }

    async fn partition_producers(&self, topic_id: Uuid, partition: i32) -> Result<Vec<ProducerRecord>, MetaError> {
        self.read(move |conn| {
            let err = unavailable("partition_producers");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT s.producer_id, s.producer_epoch, s.batches, s.updated_ms, o.first_offset, s.last_timestamp, \
                     s.coordinator_epoch \
                     FROM producer_state s LEFT JOIN txn_open o ON o.topic_id = s.topic_id \
                       AND o.partition = s.partition AND o.producer_id = s.producer_id \
                     WHERE s.topic_id = ?1 AND s.partition = ?2 ORDER BY s.producer_id",
                )
                .map_err(&err)?;
            let rows = stmt
                .query_map(params![id_bytes(topic_id), partition], |r| {
                    Ok(ProducerRecord {
                        producer_id: r.get(0)?,
                        producer_epoch: r.get(1)?,
                        batches: r.get(2)?,
                        updated_ms: r.get(3)?,
                        txn_first_offset: r.get(4)?,
                        last_timestamp: r.get(5)?,
                        coordinator_epoch: r.get(6)?,
                    })
                })
                .map_err(&err)?;
            rows.collect::<Result<_, _>>().map_err(&err)
        })
        .await
    }

    async fn load_transaction(&self, transactional_id: &str) -> Result<Option<TxnRecord>, MetaError> {
        let id = transactional_id.to_string();
        self.read(move |conn| {
            let sql = format!("SELECT {TXN_COLUMNS} FROM transactions WHERE transactional_id = ?1");
            let row = conn.query_row(&sql, [&id], row_to_txn).optional().map_err(unavailable("load_transaction"))?;
            row.transpose()
        })
        .await
    }

    async fn list_transactions(&self) -> Result<Vec<TxnRecord>, MetaError> {
        self.read(|conn| {
            let err = unavailable("list_transactions");
            let sql = format!("SELECT {TXN_COLUMNS} FROM transactions ORDER BY transactional_id");
            let mut stmt = conn.prepare(&sql).map_err(&err)?;
            let rows = stmt.query_map([], row_to_txn).map_err(&err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)?.into_iter().collect()
        })
        .await
    }

    async fn save_transaction(
        &self,
        txn: &TxnRecord,
        expected: Option<TxnVersion<'_>>,
        open: &[(Uuid, i32)],
    ) -> Result<bool, MetaError> {
        let txn = txn.clone();
        let expected = expected.map(|(pid, epoch, state)| (pid, epoch, state.to_string()));
        let open = open.to_vec();
        self.write(move |conn| {
            let err = unavailable("save_transaction");
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            let (partitions, groups) = (txn.partitions_column(), txn.groups_column());
            let saved = match expected {
                None => tx
                    .execute(
                        "INSERT INTO transactions (transactional_id, producer_id, producer_epoch, state, timeout_ms, \
                         partitions, groups, started_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                         ON CONFLICT (transactional_id) DO NOTHING",
                        params![
                            txn.transactional_id,
                            txn.producer_id,
                            txn.producer_epoch,
                            txn.state,
                            txn.timeout_ms,
                            partitions,
                            groups,
                            txn.started_ms,
                            txn.updated_ms
                        ],
                    )
                    .map_err(&err)?,
                Some((pid, epoch, state)) => tx
                    .execute(
                        "UPDATE transactions SET producer_id = ?2, producer_epoch = ?3, state = ?4, timeout_ms = ?5, \
                         partitions = ?6, groups = ?7, started_ms = ?8, updated_ms = ?9 \
                         WHERE transactional_id = ?1 AND producer_id = ?10 AND producer_epoch = ?11 AND state = ?12",
                        params![
                            txn.transactional_id,
                            txn.producer_id,
                            txn.producer_epoch,
                            txn.state,
                            txn.timeout_ms,
                            partitions,
                            groups,
                            txn.started_ms,
                            txn.updated_ms,
                            pid,
                            epoch,
                            state
                        ],
                    )
                    .map_err(&err)?,
            };
            if saved != 1 {
                return Ok(false);
            }
            for (topic_id, partition) in &open {
                tx.execute(
                    "INSERT INTO txn_open (topic_id, partition, producer_id, producer_epoch) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (topic_id, partition, producer_id) DO UPDATE SET producer_epoch = excluded.producer_epoch",
                    params![id_bytes(*topic_id), partition, txn.producer_id, txn.producer_epoch],
                )
                .map_err(&err)?;
            }
            tx.commit().map_err(&err)?;
            Ok(true)
        })
        .await
    }

    async fn delete_transaction(&self, transactional_id: &str, expected: TxnVersion<'_>) -> Result<bool, MetaError> {
        let id = transactional_id.to_string();
        let (pid, epoch, state) = (expected.0, expected.1, expected.2.to_string());
        self.write(move |conn| {
            let n = conn
                .execute(
                    "DELETE FROM transactions WHERE transactional_id = ?1 AND producer_id = ?2 \
                     AND producer_epoch = ?3 AND state = ?4",
                    params![id, pid, epoch, state],
                )
                .map_err(unavailable("delete_transaction"))?;
            Ok(n == 1)
        })
        .await
    }
}
