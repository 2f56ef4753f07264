//! The SQLite store's transaction and producer state: coordinator state,
//! aborted ranges, offsets staged by transactions, producers per partition.
//! The [`crate::metadata::MetadataStore`] impl in `mod.rs` delegates here.

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use super::{record_group, unavailable, SqliteStore};
use crate::metadata::{CommittedOffset, GroupRecord, MetaError, ProducerRecord, TxnOffsetsFor, TXN_COLUMNS};
use crate::txn::{TxnMetadata, TxnState};

impl SqliteStore {
    pub(super) async fn aborted_transactions(
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
                .query_map(params![topic_id.as_bytes().to_vec(), partition, from, to], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(&err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
        })
        .await
    }

    pub(super) async fn load_transaction(&self, transactional_id: &str) -> Result<Option<TxnMetadata>, MetaError> {
        let id = transactional_id.to_string();
        self.read(move |conn| {
            let err = unavailable("load_transaction");
            let sql = format!("SELECT {TXN_COLUMNS} FROM transactions WHERE transactional_id = ?1");
            let row = conn.query_row(&sql, [&id], row_to_txn_parts).optional().map_err(&err)?;
            row.map(txn_from_parts).transpose()
        })
        .await
    }

    pub(super) async fn list_transactions(&self) -> Result<Vec<TxnMetadata>, MetaError> {
        self.read(|conn| {
            let err = unavailable("list_transactions");
            let sql = format!("SELECT {TXN_COLUMNS} FROM transactions ORDER BY transactional_id");
            let mut stmt = conn.prepare(&sql).map_err(&err)?;
            let rows = stmt.query_map([], row_to_txn_parts).map_err(&err)?;
            let parts = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)?;
            parts.into_iter().map(txn_from_parts).collect()
        })
        .await
    }

    pub(super) async fn save_transaction(
        &self,
        txn: &TxnMetadata,
        expected: Option<(i64, i16, TxnState)>,
        open: &[(Uuid, i32)],
    ) -> Result<bool, MetaError> {
        let txn = txn.clone();
        let open = open.to_vec();
        self.write(move |conn| {
            let err = unavailable("save_transaction");
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            let (partitions, groups) = (txn.encode_partitions(), txn.encode_groups());
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
                            txn.state.name(),
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
                            txn.state.name(),
                            txn.timeout_ms,
                            partitions,
                            groups,
                            txn.started_ms,
                            txn.updated_ms,
                            pid,
                            epoch,
                            state.name()
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
                    params![topic_id.as_bytes().to_vec(), partition, txn.producer_id, txn.producer_epoch],
                )
                .map_err(&err)?;
            }
            tx.commit().map_err(&err)?;
            Ok(true)
        })
        .await
    }

    pub(super) async fn delete_transaction(
        &self,
        transactional_id: &str,
        expected: (i64, i16, TxnState),
    ) -> Result<bool, MetaError> {
        let id = transactional_id.to_string();
        self.write(move |conn| {
            let (pid, epoch, state) = expected;
            let n = conn
                .execute(
                    "DELETE FROM transactions WHERE transactional_id = ?1 AND producer_id = ?2 \
                     AND producer_epoch = ?3 AND state = ?4",
                    params![id, pid, epoch, state.name()],
                )
                .map_err(unavailable("delete_transaction"))?;
            Ok(n == 1)
        })
        .await
    }

    pub(super) async fn expire_producers(&self, before_ms: i64) -> Result<u64, MetaError> {
        self.write(move |conn| {
            let n = conn
                .execute("DELETE FROM producer_state WHERE updated_ms < ?1", [before_ms])
                .map_err(unavailable("expire_producers"))?;
            Ok(n as u64)
        })
        .await
    }

    pub(super) async fn stage_txn_offsets(
        &self,
        group: &GroupRecord,
        txn: &TxnOffsetsFor,
        offsets: &[CommittedOffset],
    ) -> Result<(), MetaError> {
        let group = group.clone();
        let txn = txn.clone();
        let offsets = offsets.to_vec();
        self.write(move |conn| {
            let err = unavailable("stage_txn_offsets");
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            // The write transaction excludes the coordinator's saves.
            let sql = format!("SELECT {TXN_COLUMNS} FROM transactions WHERE transactional_id = ?1");
            let stored = tx.query_row(&sql, [&txn.transactional_id], row_to_txn_parts).optional().map_err(&err)?;
            let producer_id = txn.producer_id;
            txn.check(stored.map(txn_from_parts).transpose()?.as_ref(), &group.group_id)?;
            record_group(&tx, &group, offsets.first().map_or(0, |o| o.commit_ms)).map_err(&err)?;
            {
                let mut upsert = tx
                    .prepare_cached(
                        "INSERT INTO txn_offsets (group_id, topic, partition, producer_id, committed_offset, \
                         leader_epoch, metadata, commit_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                         ON CONFLICT (group_id, topic, partition, producer_id) DO UPDATE SET \
                         committed_offset = excluded.committed_offset, leader_epoch = excluded.leader_epoch, \
                         metadata = excluded.metadata, commit_ms = excluded.commit_ms",
                    )
                    .map_err(&err)?;
                for o in &offsets {
                    upsert
                        .execute(params![
                            group.group_id,
                            o.topic,
                            o.partition,
                            producer_id,
                            o.offset,
                            o.leader_epoch,
                            o.metadata,
                            o.commit_ms
                        ])
                        .map_err(&err)?;
                }
            }
            tx.commit().map_err(&err)
        })
        .await
    }

    pub(super) async fn settle_txn_offsets(
        &self,
        producer_id: i64,
        groups: &[String],
        commit: bool,
    ) -> Result<u64, MetaError> {
        let groups = groups.to_vec();
        self.write(move |conn| {
            let err = unavailable("settle_txn_offsets");
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            let mut settled = 0;
            for group_id in &groups {
                if commit {
                    tx.execute(
                        "INSERT INTO group_offsets (group_id, topic, partition, committed_offset, leader_epoch, \
                         metadata, commit_ms) SELECT group_id, topic, partition, committed_offset, leader_epoch, \
                         metadata, commit_ms FROM txn_offsets WHERE group_id = ?1 AND producer_id = ?2 \
                         ON CONFLICT (group_id, topic, partition) DO UPDATE SET \
                         committed_offset = excluded.committed_offset, leader_epoch = excluded.leader_epoch, \
                         metadata = excluded.metadata, commit_ms = excluded.commit_ms",
                        params![group_id, producer_id],
                    )
                    .map_err(&err)?;
                }
                settled += tx
                    .execute(
                        "DELETE FROM txn_offsets WHERE group_id = ?1 AND producer_id = ?2",
                        params![group_id, producer_id],
                    )
                    .map_err(&err)? as u64;
            }
            tx.commit().map_err(&err)?;
            Ok(settled)
        })
        .await
    }

    pub(super) async fn pending_txn_offsets(&self, group_id: &str) -> Result<Vec<(String, i32)>, MetaError> {
        let group_id = group_id.to_string();
        self.read(move |conn| {
            let err = unavailable("pending_txn_offsets");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT DISTINCT topic, partition FROM txn_offsets WHERE group_id = ?1 ORDER BY topic, partition",
                )
                .map_err(&err)?;
            let rows = stmt.query_map([&group_id], |r| Ok((r.get(0)?, r.get(1)?))).map_err(&err)?;
            rows.collect::<Result<_, _>>().map_err(&err)
        })
        .await
    }

    pub(super) async fn count_producers(&self) -> Result<u64, MetaError> {
        self.read(|conn| {
            let n: i64 = conn
                .query_row("SELECT COUNT(DISTINCT producer_id) FROM producer_state", [], |r| r.get(0))
                .map_err(unavailable("count_producers"))?;
            Ok(n as u64)
        })
        .await
    }

    pub(super) async fn partition_producers(
        &self,
        topic_id: Uuid,
        partition: i32,
    ) -> Result<Vec<ProducerRecord>, MetaError> {
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
                .query_map(params![topic_id.as_bytes().to_vec(), partition], |r| {
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
}

type TxnParts = (String, i64, i16, String, i32, String, String, i64, i64);

fn row_to_txn_parts(r: &rusqlite::Row<'_>) -> rusqlite::Result<TxnParts> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
}

fn txn_from_parts(p: TxnParts) -> Result<TxnMetadata, MetaError> {
    let id = p.0.clone();
    TxnMetadata::decode(p.0, p.1, p.2, &p.3, p.4, &p.5, &p.6, p.7, p.8)
        .ok_or(MetaError::Corrupt { detail: format!("transaction state of {id:?}") })
}
