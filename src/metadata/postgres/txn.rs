//! The PostgreSQL store's transaction and producer state: coordinator
//! state, aborted ranges, offsets staged by transactions, producers per
//! partition. The [`crate::metadata::MetadataStore`] impl in `mod.rs` delegates here.

use uuid::Uuid;

use super::{record_group, unavailable, PostgresStore};
use crate::metadata::{CommittedOffset, GroupRecord, MetaError, ProducerRecord, TxnOffsetsFor, TXN_COLUMNS};
use crate::txn::{TxnMetadata, TxnState};

impl PostgresStore {
    pub(super) async fn aborted_transactions(
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

    pub(super) async fn load_transaction(&self, transactional_id: &str) -> Result<Option<TxnMetadata>, MetaError> {
        let c = self.client("load_transaction").await?;
        let sql = format!("SELECT {TXN_COLUMNS} FROM transactions WHERE transactional_id = $1");
        let row = c.query_opt(&sql, &[&transactional_id]).await.map_err(unavailable("load_transaction"))?;
        row.as_ref().map(row_to_txn).transpose()
    }

    pub(super) async fn list_transactions(&self) -> Result<Vec<TxnMetadata>, MetaError> {
        let c = self.client("list_transactions").await?;
        let sql = format!("SELECT {TXN_COLUMNS} FROM transactions ORDER BY transactional_id");
        let rows = c.query(&sql, &[]).await.map_err(unavailable("list_transactions"))?;
        rows.iter().map(row_to_txn).collect()
    }

    pub(super) async fn save_transaction(
        &self,
        txn: &TxnMetadata,
        expected: Option<(i64, i16, TxnState)>,
        open: &[(Uuid, i32)],
    ) -> Result<bool, MetaError> {
        let e = unavailable("save_transaction");
        let mut c = self.client("save_transaction").await?;
        let tx = c.transaction().await.map_err(&e)?;
        let (partitions, groups) = (txn.encode_partitions(), txn.encode_groups());
        let state = txn.state.name();
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
                        &was.name(),
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

    pub(super) async fn delete_transaction(
        &self,
        transactional_id: &str,
        expected: (i64, i16, TxnState),
    ) -> Result<bool, MetaError> {
        let c = self.client("delete_transaction").await?;
        let (pid, epoch, state) = expected;
        let n = c
            .execute(
                "DELETE FROM transactions WHERE transactional_id = $1 AND producer_id = $2 \
                 AND producer_epoch = $3 AND state = $4",
                &[&transactional_id, &pid, &epoch, &state.name()],
            )
            .await
            .map_err(unavailable("delete_transaction"))?;
        Ok(n == 1)
    }

    pub(super) async fn expire_producers(&self, before_ms: i64) -> Result<u64, MetaError> {
        let c = self.client("expire_producers").await?;
        c.execute("DELETE FROM producer_state WHERE updated_ms < $1", &[&before_ms])
            .await
            .map_err(unavailable("expire_producers"))
    }

    pub(super) async fn stage_txn_offsets(
        &self,
        group: &GroupRecord,
        txn: &TxnOffsetsFor,
        offsets: &[CommittedOffset],
    ) -> Result<(), MetaError> {
        let e = unavailable("stage_txn_offsets");
        let mut c = self.client("stage_txn_offsets").await?;
        let tx = c.transaction().await.map_err(&e)?;
        // FOR SHARE: a coordinator ending the transaction (an UPDATE of this
        // row) waits for this commit, or this waits for it and sees its state.
        let sql = format!("SELECT {TXN_COLUMNS} FROM transactions WHERE transactional_id = $1 FOR SHARE");
        let stored = tx.query_opt(&sql, &[&txn.transactional_id]).await.map_err(&e)?;
        let producer_id = txn.producer_id;
        txn.check(stored.as_ref().map(row_to_txn).transpose()?.as_ref(), &group.group_id)?;
        record_group(&tx, group, offsets.first().map_or(0, |o| o.commit_ms)).await.map_err(&e)?;
        let upsert = tx
            .prepare_cached(
                "INSERT INTO txn_offsets (group_id, topic, partition, producer_id, committed_offset, leader_epoch, \
                 metadata, commit_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (group_id, topic, partition, producer_id) DO UPDATE SET \
                 committed_offset = excluded.committed_offset, leader_epoch = excluded.leader_epoch, \
                 metadata = excluded.metadata, commit_ms = excluded.commit_ms",
            )
            .await
            .map_err(&e)?;
        for o in offsets {
            tx.execute(
                &upsert,
                &[
                    &group.group_id,
                    &o.topic,
                    &o.partition,
                    &producer_id,
                    &o.offset,
                    &o.leader_epoch,
                    &o.metadata,
                    &o.commit_ms,
                ],
            )
            .await
            .map_err(&e)?;
        }
        tx.commit().await.map_err(&e)
    }

    pub(super) async fn settle_txn_offsets(
        &self,
        producer_id: i64,
        groups: &[String],
        commit: bool,
    ) -> Result<u64, MetaError> {
        let e = unavailable("settle_txn_offsets");
        let mut c = self.client("settle_txn_offsets").await?;
        let tx = c.transaction().await.map_err(&e)?;
        let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
        if commit {
            tx.execute(
                "INSERT INTO group_offsets (group_id, topic, partition, committed_offset, leader_epoch, metadata, \
                 commit_ms) SELECT group_id, topic, partition, committed_offset, leader_epoch, metadata, commit_ms \
                 FROM txn_offsets WHERE group_id = ANY($1) AND producer_id = $2 \
                 ON CONFLICT (group_id, topic, partition) DO UPDATE SET \
                 committed_offset = excluded.committed_offset, leader_epoch = excluded.leader_epoch, \
                 metadata = excluded.metadata, commit_ms = excluded.commit_ms",
                &[&groups, &producer_id],
            )
            .await
            .map_err(&e)?;
        }
        let settled = tx
            .execute("DELETE FROM txn_offsets WHERE group_id = ANY($1) AND producer_id = $2", &[&groups, &producer_id])
            .await
            .map_err(&e)?;
        tx.commit().await.map_err(&e)?;
        Ok(settled)
    }

    pub(super) async fn pending_txn_offsets(&self, group_id: &str) -> Result<Vec<(String, i32)>, MetaError> {
        let c = self.client("pending_txn_offsets").await?;
        let rows = c
            .query(
                "SELECT DISTINCT topic, partition FROM txn_offsets WHERE group_id = $1 ORDER BY topic, partition",
                &[&group_id],
            )
            .await
            .map_err(unavailable("pending_txn_offsets"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub(super) async fn count_producers(&self) -> Result<u64, MetaError> {
        let c = self.client("count_producers").await?;
        let row = c
            .query_one("SELECT COUNT(DISTINCT producer_id) FROM producer_state", &[])
            .await
            .map_err(unavailable("count_producers"))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    pub(super) async fn partition_producers(
        &self,
        topic_id: Uuid,
        partition: i32,
    ) -> Result<Vec<ProducerRecord>, MetaError> {
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
}

fn row_to_txn(r: &tokio_postgres::Row) -> Result<TxnMetadata, MetaError> {
    let id: String = r.get(0);
    let state: String = r.get(3);
    let (partitions, groups): (String, String) = (r.get(5), r.get(6));
    TxnMetadata::decode(id.clone(), r.get(1), r.get(2), &state, r.get(4), &partitions, &groups, r.get(7), r.get(8))
        .ok_or(MetaError::Corrupt { detail: format!("transaction state of {id:?}") })
}
