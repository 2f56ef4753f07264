//! [`ProducerStore`] on PostgreSQL.

use async_trait::async_trait;
use uuid::Uuid;

use super::{unavailable, PostgresStore};
use crate::metadata::producers::{TxnVersion, TXN_COLUMNS};
use crate::metadata::{MetaError, ProducerRecord, ProducerStore, TxnRecord};

/// A [`TxnRecord`] from the [`TXN_COLUMNS`].
pub(super) fn row_to_txn(r: &tokio_postgres::Row) -> Result<TxnRecord, MetaError> {
    let (partitions, groups): (String, String) = (r.get(5), r.get(6));
    TxnRecord::from_columns(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), &partitions, &groups, r.get(7), r.get(8))
}

#[async_trait]
impl ProducerStore for PostgresStore {
    async fn allocate_producer_id(&self) -> Result<i64, MetaError> {
        let c = self.client("allocate_producer_id").await?;
        let row =
            c.query_one("SELECT nextval('producer_ids')", &[]).await.map_err(unavailable("allocate_producer_id"))?;
        Ok(row.get(0))
    }

    async fn expire_producers(&self, before_ms: i64) -> Result<u64, MetaError> {
        let c = self.client("expire_producers").await?;
        c.execute("DELETE FROM producer_state WHERE updated_ms < $1", &[&before_ms])
            .await
            .map_err(unavailable("expire_producers"))
    }

    async fn count_producers(&self) -> Result<u64, MetaError> {
        let c = self.client("count_producers").await?;
        let row = c
            .query_one("SELECT COUNT(DISTINCT producer_id) FROM producer_state", &[])
            .await
            .map_err(unavailable("count_producers"))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn partition_producers(&self, topic_id: Uuid, partition: i32) -> Result<Vec<ProducerRecord>, MetaError> {
        let c = self.client("partition_producers").await?;
        let rows = c
            .query(
                "SELECT s.producer_id, s.producer_epoch, s.batches, s.updated_ms, o.first_offset, s.last_timestamp, \
                     s.coordinator_epoch \
                 FROM producer_state s LEFT JOIN txn_open o ON o.topic_id = s.topic_id \
                   AND o.partition = s.partition AND o.producer_id = s.producer_id \
                 WHERE s.topic_id = $1 AND s.partition = $2 ORDER BY s.producer_id",
                &[&topic_id, &partition],
            )
            .await
            .map_err(unavailable("partition_producers"))?;
        Ok(rows
            .iter()
            .map(|r| ProducerRecord {
                producer_id: r.get(0),
                producer_epoch: r.get(1),
                batches: r.get(2),
                updated_ms: r.get(3),
                txn_first_offset: r.get(4),
                last_timestamp: r.get(5),
                coordinator_epoch: r.get(6),
            })
            .collect())
    }

    async fn load_transaction(&self, transactional_id: &str) -> Result<Option<TxnRecord>, MetaError> {
        let c = self.client("load_transaction").await?;
        let sql = format!("SELECT {TXN_COLUMNS} FROM transactions WHERE transactional_id = $1");
        let row = c.query_opt(&sql, &[&transactional_id]).await.map_err(unavailable("load_transaction"))?;
        row.as_ref().map(row_to_txn).transpose()
    }

    async fn list_transactions(&self) -> Result<Vec<TxnRecord>, MetaError> {
        let c = self.client("list_transactions").await?;
        let sql = format!("SELECT {TXN_COLUMNS} FROM transactions ORDER BY transactional_id");
        let rows = c.query(&sql, &[]).await.map_err(unavailable("list_transactions"))?;
        rows.iter().map(row_to_txn).collect()
    }

    async fn save_transaction(
        &self,
        txn: &TxnRecord,
        expected: Option<TxnVersion<'_>>,
        open: &[(Uuid, i32)],
    ) -> Result<bool, MetaError> {
        let e = unavailable("save_transaction");
        let mut c = self.client("save_transaction").await?;
        let tx = c.transaction().await.map_err(&e)?;
        let (partitions, groups) = (txn.partitions_column(), txn.groups_column());
        let state = &txn.state;
        let saved = match expected {
            None => tx
                .execute(
                    "INSERT INTO transactions (transactional_id, producer_id, producer_epoch, state, timeout_ms, \
                     partitions, groups, started_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (transactional_id) DO NOTHING",
                    &[
                        &txn.transactional_id,
                        &txn.producer_id,
                        &txn.producer_epoch,
                        &state,
                        &txn.timeout_ms,
                        &partitions,
                        &groups,
                        &txn.started_ms,
                        &txn.updated_ms,
                    ],
                )
                .await
                .map_err(&e)?,
            Some((pid, epoch, was)) => tx
                .execute(
                    "UPDATE transactions SET producer_id = $2, producer_epoch = $3, state = $4, timeout_ms = $5, \
                     partitions = $6, groups = $7, started_ms = $8, updated_ms = $9 \
                     WHERE transactional_id = $1 AND producer_id = $10 AND producer_epoch = $11 AND state = $12",
                    &[
                        &txn.transactional_id,
                        &txn.producer_id,
                        &txn.producer_epoch,
                        &state,
                        &txn.timeout_ms,
                        &partitions,
                        &groups,
                        &txn.started_ms,
                        &txn.updated_ms,
                        &pid,
                        &epoch,
                        &was,
                    ],
                )
                .await
                .map_err(&e)?,
        };
        if saved != 1 {
            tx.rollback().await.map_err(&e)?;
            return Ok(false);
        }
        for (topic_id, partition) in open {
            tx.execute(
                "INSERT INTO txn_open (topic_id, partition, producer_id, producer_epoch) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (topic_id, partition, producer_id) DO UPDATE SET producer_epoch = excluded.producer_epoch",
                &[topic_id, partition, &txn.producer_id, &txn.producer_epoch],
            )
            .await
            .map_err(&e)?;
        }
        tx.commit().await.map_err(&e)?;
        Ok(true)
    }

    async fn delete_transaction(&self, transactional_id: &str, expected: TxnVersion<'_>) -> Result<bool, MetaError> {
        let c = self.client("delete_transaction").await?;
        let (pid, epoch, state) = expected;
        let n = c
            .execute(
                "DELETE FROM transactions WHERE transactional_id = $1 AND producer_id = $2 \
                 AND producer_epoch = $3 AND state = $4",
                &[&transactional_id, &pid, &epoch, &state],
            )
            .await
            .map_err(unavailable("delete_transaction"))?;
        Ok(n == 1)
    }
}
