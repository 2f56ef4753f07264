//! Cluster membership as stored: the cluster id and the registered brokers
//! (table `cluster`, `brokers`). Used by [`crate::cluster::Membership`].

use super::bounded::store_trait;
use super::MetaError;

/// A registered broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRecord {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub epoch: i64,
    pub heartbeat_ms: i64,
}

store_trait! {
    pub trait BrokerRegistry {
        /// The cluster id, created on first use and stable afterwards.
        async fn cluster_id(&self) -> Result<String, MetaError>;

        /// Registers a starting broker process: bumps the node's epoch
        /// (fencing any earlier process with the same node id) and returns
        /// the new epoch.
        async fn register_broker(&self, node_id: i32, host: &str, port: i32, now_ms: i64) -> Result<i64, MetaError>;

        /// Renews a registration. `false` when the node id has been
        /// registered again since (this process is fenced) or the row is gone.
        async fn heartbeat_broker(&self, node_id: i32, epoch: i64, now_ms: i64) -> Result<bool, MetaError>;

        /// Brokers whose last heartbeat is at or after `since_ms`, by node id.
        async fn live_brokers(&self, since_ms: i64) -> Result<Vec<BrokerRecord>, MetaError>;
    }
}
