//! [`GroupOffsets`] on SQLite.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::producers::row_to_txn;
use super::{unavailable, SqliteStore};
use crate::metadata::producers::TXN_COLUMNS;
use crate::metadata::{CommittedOffset, GroupOffsets, GroupRecord, MetaError, TxnOffsetsFor};

/// Records a group, keeping a stored protocol type unless a new one is given.
fn record_group(tx: &rusqlite::Transaction<'_>, group: &GroupRecord, created_ms: i64) -> rusqlite::Result<usize> {
    tx.execute(
        "INSERT INTO groups (group_id, protocol_type, created_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (group_id) DO UPDATE SET protocol_type = \
           CASE WHEN excluded.protocol_type = '' THEN groups.protocol_type ELSE excluded.protocol_type END",
        params![group.group_id, group.protocol_type, created_ms],
    )
}

#[async_trait]
impl GroupOffsets for SqliteStore {
    async fn list_groups(&self) -> Result<Vec<GroupRecord>, MetaError> {
        self.read(|conn| {
            let err = unavailable("list_groups");
            let mut stmt =
                conn.prepare("SELECT group_id, protocol_type FROM groups ORDER BY group_id").map_err(&err)?;
            let rows = stmt
                .query_map([], |r| Ok(GroupRecord { group_id: r.get(0)?, protocol_type: r.get(1)? }))
                .map_err(&err)?;
            rows.collect::<Result<_, _>>().map_err(&err)
        })
        .await
    }

    async fn commit_offsets(&self, group: &GroupRecord, offsets: &[CommittedOffset]) -> Result<(), MetaError> {
        let group = group.clone();
        let offsets = offsets.to_vec();
        self.write(move |conn| {
            let err = unavailable("commit_offsets");
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            record_group(&tx, &group, offsets.first().map_or(0, |o| o.commit_ms)).map_err(&err)?;
            {
                let mut upsert = tx
                    .prepare_cached(
                        "INSERT INTO group_offsets (group_id, topic, partition, committed_offset, leader_epoch, metadata, commit_ms) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (group_id, topic, partition) DO UPDATE SET \
                         committed_offset = excluded.committed_offset, leader_epoch = excluded.leader_epoch, \
                         metadata = excluded.metadata, commit_ms = excluded.commit_ms",
                    )
                    .map_err(&err)?;
                for o in &offsets {
                    upsert
                        .execute(params![group.group_id, o.topic, o.partition, o.offset, o.leader_epoch, o.metadata, o.commit_ms])
                        .map_err(&err)?;
                }
            }
            tx.commit().map_err(&err)
        })
        .await
    }

    async fn fetch_offsets(&self, group_id: &str) -> Result<Vec<CommittedOffset>, MetaError> {
        let group_id = group_id.to_string();
        self.read(move |conn| {
            let err = unavailable("fetch_offsets");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT topic, partition, committed_offset, leader_epoch, metadata, commit_ms FROM group_offsets \
                     WHERE group_id = ?1 ORDER BY topic, partition",
                )
                .map_err(&err)?;
            let rows = stmt
                .query_map([&group_id], |r| {
                    Ok(CommittedOffset {
                        topic: r.get(0)?,
                        partition: r.get(1)?,
                        offset: r.get(2)?,
                        leader_epoch: r.get(3)?,
                        metadata: r.get(4)?,
                        commit_ms: r.get(5)?,
                    })
                })
                .map_err(&err)?;
            rows.collect::<Result<_, _>>().map_err(&err)
        })
        .await
    }

    async fn delete_offsets(&self, group_id: &str, which: Option<&[(String, i32)]>) -> Result<(), MetaError> {
        let group_id = group_id.to_string();
        let which = which.map(<[(String, i32)]>::to_vec);
        self.write(move |conn| {
            let err = unavailable("delete_offsets");
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            match which {
                None => {
                    tx.execute("DELETE FROM group_offsets WHERE group_id = ?1", [&group_id]).map_err(&err)?;
                    tx.execute("DELETE FROM groups WHERE group_id = ?1", [&group_id]).map_err(&err)?;
                }
                Some(list) => {
                    let mut del = tx
                        .prepare_cached(
                            "DELETE FROM group_offsets WHERE group_id = ?1 AND topic = ?2 AND partition = ?3",
                        )
                        .map_err(&err)?;
                    for (topic, partition) in &list {
                        del.execute(params![group_id, topic, partition]).map_err(&err)?;
                    }
                }
            }
            tx.commit().map_err(&err)
        })
        .await
    }

    async fn stage_txn_offsets(
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
            let stored = tx.query_row(&sql, [&txn.transactional_id], row_to_txn).optional().map_err(&err)?;
            txn.check(stored.transpose()?.as_ref(), &group.group_id)?;
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
                            txn.producer_id,
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

    async fn settle_txn_offsets(&self, producer_id: i64, groups: &[String], commit: bool) -> Result<u64, MetaError> {
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

    async fn pending_txn_offsets(&self, group_id: &str) -> Result<Vec<(String, i32)>, MetaError> {
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
}
