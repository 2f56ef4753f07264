//! [`GroupOffsets`] on PostgreSQL.

use async_trait::async_trait;

use super::producers::row_to_txn;
use super::{unavailable, PostgresStore};
use crate::metadata::producers::TXN_COLUMNS;
use crate::metadata::{CommittedOffset, GroupOffsets, GroupRecord, MetaError, TxnOffsetsFor};

/// Records a group, keeping a stored protocol type unless a new one is given.
async fn record_group(
    tx: &deadpool_postgres::Transaction<'_>,
    group: &GroupRecord,
    created_ms: i64,
) -> Result<u64, tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO groups (group_id, protocol_type, created_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (group_id) DO UPDATE SET protocol_type = \
           CASE WHEN excluded.protocol_type = '' THEN groups.protocol_type ELSE excluded.protocol_type END",
        &[&group.group_id, &group.protocol_type, &created_ms],
    )
    .await
}

#[async_trait]
impl GroupOffsets for PostgresStore {
    async fn list_groups(&self) -> Result<Vec<GroupRecord>, MetaError> {
        let c = self.client("list_groups").await?;
        let rows = c
            .query("SELECT group_id, protocol_type FROM groups ORDER BY group_id", &[])
            .await
            .map_err(unavailable("list_groups"))?;
        Ok(rows.iter().map(|r| GroupRecord { group_id: r.get(0), protocol_type: r.get(1) }).collect())
    }

    async fn commit_offsets(&self, group: &GroupRecord, offsets: &[CommittedOffset]) -> Result<(), MetaError> {
        let e = unavailable("commit_offsets");
        let mut c = self.client("commit_offsets").await?;
        let tx = c.transaction().await.map_err(&e)?;
        record_group(&tx, group, offsets.first().map_or(0, |o| o.commit_ms)).await.map_err(&e)?;
        let upsert = tx
            .prepare_cached(
                "INSERT INTO group_offsets (group_id, topic, partition, committed_offset, leader_epoch, metadata, commit_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (group_id, topic, partition) DO UPDATE SET \
                 committed_offset = excluded.committed_offset, leader_epoch = excluded.leader_epoch, \
                 metadata = excluded.metadata, commit_ms = excluded.commit_ms",
            )
            .await
            .map_err(&e)?;
        for o in offsets {
            tx.execute(
                &upsert,
                &[&group.group_id, &o.topic, &o.partition, &o.offset, &o.leader_epoch, &o.metadata, &o.commit_ms],
            )
            .await
            .map_err(&e)?;
        }
        tx.commit().await.map_err(&e)
    }

    async fn fetch_offsets(&self, group_id: &str) -> Result<Vec<CommittedOffset>, MetaError> {
        let c = self.client("fetch_offsets").await?;
        let rows = c
            .query(
                "SELECT topic, partition, committed_offset, leader_epoch, metadata, commit_ms FROM group_offsets \
                 WHERE group_id = $1 ORDER BY topic, partition",
                &[&group_id],
            )
            .await
            .map_err(unavailable("fetch_offsets"))?;
        Ok(rows
            .iter()
            .map(|r| CommittedOffset {
                topic: r.get(0),
                partition: r.get(1),
                offset: r.get(2),
                leader_epoch: r.get(3),
                metadata: r.get(4),
                commit_ms: r.get(5),
            })
            .collect())
    }

    async fn delete_offsets(&self, group_id: &str, which: Option<&[(String, i32)]>) -> Result<(), MetaError> {
        let e = unavailable("delete_offsets");
        let mut c = self.client("delete_offsets").await?;
        let tx = c.transaction().await.map_err(&e)?;
        match which {
            None => {
                tx.execute("DELETE FROM group_offsets WHERE group_id = $1", &[&group_id]).await.map_err(&e)?;
                tx.execute("DELETE FROM groups WHERE group_id = $1", &[&group_id]).await.map_err(&e)?;
            }
            Some(list) => {
                for (topic, partition) in list {
                    tx.execute(
                        "DELETE FROM group_offsets WHERE group_id = $1 AND topic = $2 AND partition = $3",
                        &[&group_id, topic, partition],
                    )
                    .await
                    .map_err(&e)?;
                }
            }
        }
        tx.commit().await.map_err(&e)
    }

    async fn stage_txn_offsets(
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

    async fn settle_txn_offsets(&self, producer_id: i64, groups: &[String], commit: bool) -> Result<u64, MetaError> {
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

    async fn pending_txn_offsets(&self, group_id: &str) -> Result<Vec<(String, i32)>, MetaError> {
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
}
