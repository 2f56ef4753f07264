//! [`BrokerRegistry`] on SQLite.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::{unavailable, SqliteStore};
use crate::metadata::{new_cluster_id, BrokerRecord, BrokerRegistry, MetaError};

#[async_trait]
impl BrokerRegistry for SqliteStore {
    async fn cluster_id(&self) -> Result<String, MetaError> {
        self.write(|conn| {
            let err = unavailable("cluster_id");
            let existing: Option<String> =
                conn.query_row("SELECT cluster_id FROM cluster", [], |r| r.get(0)).optional().map_err(&err)?;
            if let Some(id) = existing {
                return Ok(id);
            }
            let id = new_cluster_id();
            conn.execute("INSERT INTO cluster (singleton, cluster_id) VALUES (1, ?1)", [&id]).map_err(&err)?;
            Ok(id)
        })
        .await
    }

    async fn register_broker(&self, node_id: i32, host: &str, port: i32, now_ms: i64) -> Result<i64, MetaError> {
        let host = host.to_string();
        self.write(move |conn| {
            conn.query_row(
                "INSERT INTO brokers (node_id, host, port, epoch, heartbeat_ms) VALUES (?1, ?2, ?3, 1, ?4) \
                 ON CONFLICT (node_id) DO UPDATE SET host = excluded.host, port = excluded.port, \
                 epoch = brokers.epoch + 1, heartbeat_ms = excluded.heartbeat_ms RETURNING epoch",
                params![node_id, host, port, now_ms],
                |r| r.get(0),
            )
            .map_err(unavailable("register_broker"))
        })
        .await
    }

    async fn heartbeat_broker(&self, node_id: i32, epoch: i64, now_ms: i64) -> Result<bool, MetaError> {
        self.write(move |conn| {
            let n = conn
                .execute(
                    "UPDATE brokers SET heartbeat_ms = MAX(heartbeat_ms, ?3) WHERE node_id = ?1 AND epoch = ?2",
                    params![node_id, epoch, now_ms],
                )
                .map_err(unavailable("heartbeat_broker"))?;
            Ok(n == 1)
        })
        .await
    }

    async fn live_brokers(&self, since_ms: i64) -> Result<Vec<BrokerRecord>, MetaError> {
        self.read(move |conn| {
            let err = unavailable("live_brokers");
            let mut stmt = conn
                .prepare(
                    "SELECT node_id, host, port, epoch, heartbeat_ms FROM brokers WHERE heartbeat_ms >= ?1 \
                     ORDER BY node_id",
                )
                .map_err(&err)?;
            let rows = stmt
                .query_map([since_ms], |r| {
                    Ok(BrokerRecord {
                        node_id: r.get(0)?,
                        host: r.get(1)?,
                        port: r.get(2)?,
                        epoch: r.get(3)?,
                        heartbeat_ms: r.get(4)?,
                    })
                })
                .map_err(&err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
        })
        .await
    }
}
