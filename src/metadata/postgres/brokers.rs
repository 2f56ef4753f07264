//! [`BrokerRegistry`] on PostgreSQL.

use async_trait::async_trait;

use super::{unavailable, PostgresStore};
use crate::metadata::{new_cluster_id, BrokerRecord, BrokerRegistry, MetaError};

#[async_trait]
impl BrokerRegistry for PostgresStore {
    async fn cluster_id(&self) -> Result<String, MetaError> {
        let e = unavailable("cluster_id");
        let c = self.client("cluster_id").await?;
        let candidate = new_cluster_id();
        // Whoever inserts first wins; everyone reads the winner.
        c.execute("INSERT INTO cluster (singleton, cluster_id) VALUES (1, $1) ON CONFLICT DO NOTHING", &[&candidate])
            .await
            .map_err(&e)?;
        let row = c.query_one("SELECT cluster_id FROM cluster", &[]).await.map_err(&e)?;
        Ok(row.get(0))
    }

    async fn register_broker(&self, node_id: i32, host: &str, port: i32, now_ms: i64) -> Result<i64, MetaError> {
        let c = self.client("register_broker").await?;
        let row = c
            .query_one(
                "INSERT INTO brokers (node_id, host, port, epoch, heartbeat_ms) VALUES ($1, $2, $3, 1, $4) \
                 ON CONFLICT (node_id) DO UPDATE SET host = excluded.host, port = excluded.port, \
                 epoch = brokers.epoch + 1, heartbeat_ms = excluded.heartbeat_ms RETURNING epoch",
                &[&node_id, &host, &port, &now_ms],
            )
            .await
            .map_err(unavailable("register_broker"))?;
        Ok(row.get(0))
    }

    async fn heartbeat_broker(&self, node_id: i32, epoch: i64, now_ms: i64) -> Result<bool, MetaError> {
        let c = self.client("heartbeat_broker").await?;
        let n = c
            .execute(
                "UPDATE brokers SET heartbeat_ms = GREATEST(heartbeat_ms, $3) WHERE node_id = $1 AND epoch = $2",
                &[&node_id, &epoch, &now_ms],
            )
            .await
            .map_err(unavailable("heartbeat_broker"))?;
        Ok(n == 1)
    }

    async fn live_brokers(&self, since_ms: i64) -> Result<Vec<BrokerRecord>, MetaError> {
        let c = self.client("live_brokers").await?;
        let rows = c
            .query(
                "SELECT node_id, host, port, epoch, heartbeat_ms FROM brokers WHERE heartbeat_ms >= $1 ORDER BY node_id",
                &[&since_ms],
            )
            .await
            .map_err(unavailable("live_brokers"))?;
        Ok(rows
            .iter()
            .map(|r| BrokerRecord {
                node_id: r.get(0),
                host: r.get(1),
                port: r.get(2),
                epoch: r.get(3),
                heartbeat_ms: r.get(4),
            })
            .collect())
    }
}
