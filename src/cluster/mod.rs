//! The cluster as this broker sees it: which brokers are live, and from
//! that, who leads each partition and who coordinates each group.
//!
//! Every broker registers in the metadata store at start-up (which bumps its
//! node's epoch and so fences an older process with the same node id) and
//! renews the registration every heartbeat interval. A broker is live while
//! its last heartbeat is younger than the session timeout; each broker reads
//! the live set back from the store after its heartbeat, so all brokers
//! converge on the same list and [`placement`] gives the same answers
//! everywhere.
//!
//! A broker that cannot renew its registration for a session timeout (the
//! database is unreachable, or the process was paused), or that was fenced,
//! stops coordinating at once: [`Membership::owns`] is false for every key,
//! so group requests get NOT_COORDINATOR and clients move to the broker the
//! others now place the group on. Produce and fetch go on: offsets are
//! assigned in the store, so they need no coordinator.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::clock::Clock;
use crate::metadata::{BrokerRegistry, MetaError};
use crate::metrics as m;

pub mod placement;

/// A broker as clients see it in Metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEndpoint {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

#[derive(Debug, Clone)]
pub struct MembershipConfig {
    pub node_id: i32,
    /// The address registered for clients (the advertised listener).
    pub host: String,
    pub port: i32,
    pub heartbeat_interval_ms: u64,
    pub session_timeout_ms: u64,
}

struct View {
    /// Live brokers by node id.
    brokers: Arc<Vec<BrokerEndpoint>>,
    /// When (this broker's clock) the last heartbeat that succeeded was sent.
    last_renewed_ms: i64,
    fenced: bool,
}

pub struct Membership {
    cfg: MembershipConfig,
    epoch: i64,
    clock: Arc<dyn Clock>,
    view: RwLock<View>,
    /// Bumped whenever the live set or this broker's own liveness changes.
    changed: watch::Sender<u64>,
}

impl Membership {
    /// Registers this broker and reads the live set.
    pub async fn register(
        meta: &dyn BrokerRegistry,
        clock: Arc<dyn Clock>,
        cfg: MembershipConfig,
    ) -> Result<Self, MetaError> {
        let now = clock.now_ms();
        let epoch = meta.register_broker(cfg.node_id, &cfg.host, cfg.port, now).await?;
        let since = now - cfg.session_timeout_ms as i64;
        let brokers = meta.live_brokers(since).await?.into_iter().map(endpoint).collect::<Vec<_>>();
        info!(
            node_id = cfg.node_id,
            epoch,
            live = ?brokers.iter().map(|b| b.node_id).collect::<Vec<_>>(),
            "broker registered"
        );
        metrics::gauge!(m::CLUSTER_LIVE_BROKERS).set(brokers.len() as f64);
        metrics::gauge!(m::CLUSTER_REGISTERED).set(1.0);
        let view = View { brokers: Arc::new(brokers), last_renewed_ms: now, fenced: false };
        let (changed, _) = watch::channel(0);
        Ok(Self { cfg, epoch, clock, view: RwLock::new(view), changed })
    }

    /// A membership of this broker alone that never expires: for tests of
    /// components that need one.
    pub fn standalone(clock: Arc<dyn Clock>, node_id: i32) -> Self {
        let cfg = MembershipConfig {
            node_id,
            host: "127.0.0.1".into(),
            port: 9092,
            heartbeat_interval_ms: 1_000,
            session_timeout_ms: u64::MAX / 4,
        };
        let me = BrokerEndpoint { node_id, host: cfg.host.clone(), port: cfg.port };
        let view = View { brokers: Arc::new(vec![me]), last_renewed_ms: clock.now_ms(), fenced: false };
        Self { cfg, epoch: 1, clock, view: RwLock::new(view), changed: watch::channel(0).0 }
    }

    pub fn node_id(&self) -> i32 {
        self.cfg.node_id
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, View> {
        self.view.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The live brokers by node id. Never empty: when the store cannot be
    /// read this is the last set seen, which includes this broker.
    pub fn brokers(&self) -> Arc<Vec<BrokerEndpoint>> {
        self.read().brokers.clone()
    }

    fn live_ids(&self) -> Vec<i32> {
        self.read().brokers.iter().map(|b| b.node_id).collect()
    }

    /// Whether this broker's registration is current: renewed within the
    /// session timeout and not taken over by another process.
    pub fn is_live(&self) -> bool {
        let v = self.read();
        !v.fenced && self.clock.now_ms() - v.last_renewed_ms < self.cfg.session_timeout_ms as i64
    }

    /// The broker that coordinates `key` (a group or transactional id).
    pub fn coordinator(&self, key: &str) -> Option<i32> {
        placement::coordinator_node(key, &self.live_ids())
    }

    /// Whether this broker coordinates `key` right now.
    pub fn owns(&self, key: &str) -> bool {
        self.is_live() && self.coordinator(key) == Some(self.cfg.node_id)
    }

    /// The partition's leader as Metadata reports it (any broker serves any
    /// partition; clients send to this one).
    pub fn leader(&self, topic: &str, partition: i32) -> i32 {
        placement::partition_leader(topic, partition, &self.live_ids()).unwrap_or(self.cfg.node_id)
    }

    /// The broker reported as controller: the live one with the lowest id.
    pub fn controller(&self) -> i32 {
        self.read().brokers.first().map_or(self.cfg.node_id, |b| b.node_id)
    }

    /// Changes whenever the live set or this broker's liveness changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// One heartbeat: renew the registration, then re-read the live set.
    pub async fn heartbeat(&self, meta: &dyn BrokerRegistry) {
        let was_live = self.is_live();
        let sent_ms = self.clock.now_ms();
        let started = Instant::now();
        match meta.heartbeat_broker(self.cfg.node_id, self.epoch, sent_ms).await {
            Ok(true) => {
                metrics::histogram!(m::CLUSTER_HEARTBEAT_SECONDS).record(started.elapsed().as_secs_f64());
                let mut v = self.view.write().unwrap_or_else(|p| p.into_inner());
                v.last_renewed_ms = v.last_renewed_ms.max(sent_ms);
            }
            Ok(false) => {
                metrics::counter!(m::CLUSTER_HEARTBEAT_FAILURES_TOTAL, "reason" => "fenced").increment(1);
                let mut v = self.view.write().unwrap_or_else(|p| p.into_inner());
                if !v.fenced {
                    error!(
                        node_id = self.cfg.node_id,
                        epoch = self.epoch,
                        "another broker process registered node id {}; this one stops coordinating \
                         (give every broker its own --node-id)",
                        self.cfg.node_id
                    );
                }
                v.fenced = true;
            }
            Err(e) => {
                metrics::counter!(m::CLUSTER_HEARTBEAT_FAILURES_TOTAL, "reason" => "unavailable").increment(1);
                warn!(error = %e, "broker heartbeat failed; this broker stops coordinating if it cannot renew \
                    within the session timeout");
            }
        }
        let since = self.clock.now_ms() - self.cfg.session_timeout_ms as i64;
        let mut membership_changed = false;
        if let Ok(records) = meta.live_brokers(since).await {
            let brokers: Vec<BrokerEndpoint> = records.into_iter().map(endpoint).collect();
            let mut v = self.view.write().unwrap_or_else(|p| p.into_inner());
            if *v.brokers != brokers && !brokers.is_empty() {
                info!(
                    before = ?v.brokers.iter().map(|b| b.node_id).collect::<Vec<_>>(),
                    after = ?brokers.iter().map(|b| b.node_id).collect::<Vec<_>>(),
                    "live brokers changed"
                );
                metrics::gauge!(m::CLUSTER_LIVE_BROKERS).set(brokers.len() as f64);
                v.brokers = Arc::new(brokers);
                membership_changed = true;
            }
        }
        let live = self.is_live();
        metrics::gauge!(m::CLUSTER_REGISTERED).set(if live { 1.0 } else { 0.0 });
        if live != was_live {
            if live {
                info!("registration renewed; coordinating again");
            } else {
                warn!("registration lost; not coordinating any group until it is renewed");
            }
        }
        if membership_changed || live != was_live {
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Heartbeats every interval, for as long as the broker runs.
    pub async fn run(self: Arc<Self>, meta: Arc<dyn BrokerRegistry>) {
        let every = Duration::from_millis(self.cfg.heartbeat_interval_ms.max(1));
        loop {
            tokio::time::sleep(every).await;
            self.heartbeat(meta.as_ref()).await;
        }
    }
}

fn endpoint(r: crate::metadata::BrokerRecord) -> BrokerEndpoint {
    BrokerEndpoint { node_id: r.node_id, host: r.host, port: r.port }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::metadata::sqlite::SqliteStore;

    fn cfg(node_id: i32, port: i32) -> MembershipConfig {
        MembershipConfig {
            node_id,
            host: "127.0.0.1".into(),
            port,
            heartbeat_interval_ms: 100,
            session_timeout_ms: 1_000,
        }
    }

    #[tokio::test]
    async fn brokers_see_each_other_expire_and_fence() {
        let dir = tempfile::tempdir().unwrap();
        let meta = SqliteStore::open(&dir.path().join("meta.sqlite")).unwrap();
        let clock = Arc::new(ManualClock::new(10_000));
        let a = Membership::register(&meta, clock.clone(), cfg(1, 9001)).await.unwrap();
        let b = Membership::register(&meta, clock.clone(), cfg(2, 9002)).await.unwrap();
        a.heartbeat(&meta).await;
        let ids = |m: &Membership| m.brokers().iter().map(|b| (b.node_id, b.port)).collect::<Vec<_>>();
        assert_eq!(ids(&a), vec![(1, 9001), (2, 9002)]);
        assert!(a.is_live() && b.is_live());
        // Both compute the same placement.
        for g in ["g1", "g2", "g3", "orders"] {
            assert_eq!(a.coordinator(g), b.coordinator(g));
            assert_ne!(a.owns(g), b.owns(g), "exactly one owns {g}");
        }
        assert_eq!(a.controller(), 1);

        // B stops heartbeating: after the session timeout A drops it, and
        // B itself knows it is no longer live.
        let changes = a.subscribe();
        clock.advance_ms(600);
        a.heartbeat(&meta).await;
        clock.advance_ms(600);
        a.heartbeat(&meta).await;
        assert_eq!(ids(&a), vec![(1, 9001)]);
        assert!(changes.has_changed().unwrap());
        assert!(!b.is_live());
        assert!(!b.owns("g1") && !b.owns("g2") && !b.owns("g3"));
        for g in ["g1", "g2", "g3"] {
            assert!(a.owns(g), "the survivor coordinates {g}");
        }
        // B renews and is back for both.
        b.heartbeat(&meta).await;
        a.heartbeat(&meta).await;
        assert!(b.is_live());
        assert_eq!(ids(&a), vec![(1, 9001), (2, 9002)]);

        // A second process takes node id 2: the first is fenced for good.
        let b2 = Membership::register(&meta, clock.clone(), cfg(2, 9003)).await.unwrap();
        b.heartbeat(&meta).await;
        assert!(!b.is_live());
        clock.advance_ms(10);
        b.heartbeat(&meta).await;
        assert!(!b.is_live(), "a fenced process stays fenced");
        assert!(b2.is_live());
        a.heartbeat(&meta).await;
        assert_eq!(ids(&a), vec![(1, 9001), (2, 9003)]);
    }
}
