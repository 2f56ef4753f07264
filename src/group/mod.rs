//! The group coordinator: consumer groups under Kafka's classic protocol
//! and the consumer protocol of KIP-848.
//!
//! - [`state`]: the classic group states and their legal transitions.
//! - [`machine`]: one classic group's state machine (pure; time passed in).
//! - [`consumer`]: one KIP-848 consumer group (pure; time passed in).
//! - [`consumer_protocol`]: reading subscriptions for OffsetDelete.
//!
//! [`GroupCoordinator`] owns every group behind one mutex (short sections,
//! no `.await` inside), persists committed offsets through the metadata
//! store before answering, and is driven by its ticker ([`GroupCoordinator::run`])
//! for timeouts. Groups known to the store (they have committed offsets)
//! are loaded at start-up as Empty; members rebuild membership by rejoining.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;
use tracing::{info, warn};

pub mod consumer;
pub mod consumer_protocol;
#[cfg(test)]
mod consumer_tests;
pub mod machine;
pub mod state;

use crate::clock::Clock;
use crate::cluster::Membership;
use crate::metadata::{CommittedOffset, GroupOffsets, GroupRecord, MetaError, TxnOffsetsFor};
use crate::metrics as m;
use crate::protocol::ErrorCode;
use consumer::{ConsumerGroup, ConsumerGroupConfig, HeartbeatRequest, HeartbeatResult, TopicInfo};
use machine::{Group, GroupConfig, Identity, JoinRequest, JoinResult, Reply, SyncRequest, SyncResult};
use state::GroupState;

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: bytes::Bytes,
    pub assignment: bytes::Bytes,
}

/// One row of ListGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: &'static str,
    /// "classic" or "consumer" (KIP-848 group types).
    pub group_type: &'static str,
}

/// A consumer-protocol group as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone)]
pub struct ConsumerGroupDescription {
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    /// Each member with its target assignment.
    pub members: Vec<(consumer::ConsumerMember, consumer::Assignment)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol_name: String,
    pub members: Vec<MemberDescription>,
}

/// Committed offset by (topic, partition).
type OffsetsByPartition = BTreeMap<(String, i32), i64>;

/// Why a group request failed.
#[derive(Debug, Error)]
pub enum GroupError {
    /// The answer Kafka's coordinator gives in this situation.
    #[error("refused with {0:?}")]
    Refused(ErrorCode),
    #[error(transparent)]
    Store(#[from] MetaError),
}

impl From<ErrorCode> for GroupError {
    fn from(code: ErrorCode) -> Self {
        GroupError::Refused(code)
    }
}

/// A partition's log end offset by topic name and partition, for the lag
/// gauges; `None` for a partition not known.
pub type EndOffsets = Box<dyn Fn(&str, i32) -> Option<i64> + Send + Sync>;

/// How often the ticker runs, and how often it refreshes the lag gauges.
#[derive(Debug, Clone, Copy)]
pub struct GroupTicks {
    pub tick_ms: u64,
    pub lag_metrics_interval_ms: u64,
}

/// Every group this broker coordinates, by protocol. A group id lives in
/// at most one of the two maps.
#[derive(Default)]
struct Groups {
    classic: HashMap<String, Group>,
    consumer: HashMap<String, ConsumerGroup>,
}

impl Groups {
    /// Drops an empty group of the other protocol so `group_id` can be used
    /// with a new one; refuses when that group has members.
    fn claim_for_classic(&mut self, group_id: &str) -> Result<(), ErrorCode> {
        match self.consumer.get(group_id) {
            Some(g) if !g.members.is_empty() => Err(ErrorCode::InconsistentGroupProtocol),
            Some(_) => {
                self.consumer.remove(group_id);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn claim_for_consumer(&mut self, group_id: &str) -> Result<(), ErrorCode> {
        match self.classic.get(group_id) {
            Some(g) if !g.is_empty() => Err(ErrorCode::GroupIdNotFound),
            Some(_) => {
                self.classic.remove(group_id);
                Ok(())
            }
            None => Ok(()),
        }
    }
}

pub struct GroupCoordinator {
    groups: Mutex<Groups>,
    /// Committed offsets by group, mirrored from the store for lag metrics.
    committed: Mutex<HashMap<String, OffsetsByPartition>>,
    cfg: GroupConfig,
    consumer_cfg: ConsumerGroupConfig,
    store: Arc<dyn GroupOffsets>,
    clock: Arc<dyn Clock>,
    membership: Arc<Membership>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl GroupCoordinator {
    /// A coordinator holding the stored groups this broker coordinates.
    pub async fn load(
        store: Arc<dyn GroupOffsets>,
        clock: Arc<dyn Clock>,
        cfg: GroupConfig,
        membership: Arc<Membership>,
    ) -> Result<Self, MetaError> {
        let c = Self {
            groups: Mutex::new(Groups::default()),
            committed: Mutex::new(HashMap::new()),
            cfg,
            consumer_cfg: ConsumerGroupConfig::default(),
            store,
            clock,
            membership,
        };
        let adopted = c.adopt_owned_groups().await?;
        info!(groups = adopted, "group coordinator loaded");
        Ok(c)
    }

    /// Loads the stored groups (those with committed offsets) that this
    /// broker coordinates but does not hold yet, as Empty groups: after a
    /// start, or when another broker's groups move here. Members rebuild
    /// membership by rejoining. Returns how many were adopted.
    pub async fn adopt_owned_groups(&self) -> Result<usize, MetaError> {
        let mut adopted = 0;
        for g in self.store.list_groups().await? {
            if !self.membership.owns(&g.group_id) {
                continue;
            }
            let held = {
                let groups = lock(&self.groups);
                groups.classic.contains_key(&g.group_id) || groups.consumer.contains_key(&g.group_id)
            };
            if held {
                continue;
            }
            let offsets = self.store.fetch_offsets(&g.group_id).await?;
            let offsets: OffsetsByPartition = offsets.into_iter().map(|o| ((o.topic, o.partition), o.offset)).collect();
            let mut groups = lock(&self.groups);
            if groups.classic.contains_key(&g.group_id) || groups.consumer.contains_key(&g.group_id) {
                continue; // a member joined while the offsets were read
            }
            let protocol_type = (!g.protocol_type.is_empty()).then_some(g.protocol_type);
            groups.classic.insert(g.group_id.clone(), Group::new(&g.group_id, protocol_type));
            lock(&self.committed).insert(g.group_id, offsets);
            adopted += 1;
        }
        Ok(adopted)
    }

    /// Forgets the groups this broker no longer coordinates (another broker
    /// took them over, or this one lost its registration). Pending joins
    /// and syncs end with NOT_COORDINATOR, which sends clients to look up
    /// the coordinator again.
    fn release_unowned(&self, groups: &mut Groups) {
        let owned = |id: &String| self.membership.owns(id);
        let before = groups.classic.len() + groups.consumer.len();
        groups.classic.retain(|id, _| owned(id));
        groups.consumer.retain(|id, _| owned(id));
        let released = before - groups.classic.len() - groups.consumer.len();
        if released > 0 {
            info!(released, "released groups now coordinated elsewhere");
            lock(&self.committed).retain(|id, _| owned(id));
        }
    }

    /// NOT_COORDINATOR unless this broker coordinates `group_id`.
    pub fn check_coordinator(&self, group_id: &str) -> Result<(), ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        if self.membership.owns(group_id) {
            Ok(())
        } else {
            Err(ErrorCode::NotCoordinator)
        }
    }

    pub async fn join(&self, group_id: &str, req: JoinRequest) -> JoinResult {
        if let Err(code) = self.check_coordinator(group_id) {
            return JoinResult::error(code, &req.member_id);
        }
        let now = self.clock.now_ms();
        let reply = {
            let mut all = lock(&self.groups);
            if let Err(code) = all.claim_for_classic(group_id) {
                return JoinResult::error(code, &req.member_id);
            }
            let groups = &mut all.classic;
            if !groups.contains_key(group_id) {
                if !req.member_id.is_empty() {
                    return JoinResult::error(ErrorCode::UnknownMemberId, &req.member_id);
                }
                groups.insert(group_id.to_string(), Group::new(group_id, None));
            }
            let group = groups.get_mut(group_id).expect("present");
            let before = group.rebalances;
            let reply = group.join(req.clone(), now, &self.cfg);
            metrics::counter!(m::GROUP_REBALANCES_TOTAL).increment(group.rebalances - before);
            reply
        };
        match reply {
            Reply::Now(r) => r,
            // The group was released while the join waited.
            Reply::Later(rx) => {
                rx.await.unwrap_or_else(|_| JoinResult::error(ErrorCode::NotCoordinator, &req.member_id))
            }
        }
    }

    pub async fn sync(&self, group_id: &str, req: SyncRequest) -> SyncResult {
        let fail =
            |error| SyncResult { error, protocol_type: None, protocol_name: None, assignment: Default::default() };
        if let Err(code) = self.check_coordinator(group_id) {
            return fail(code);
        }
        let now = self.clock.now_ms();
        let reply = {
            match lock(&self.groups).classic.get_mut(group_id) {
                None => return fail(ErrorCode::UnknownMemberId),
                Some(g) => g.sync(req, now),
            }
        };
        match reply {
            Reply::Now(r) => r,
            // The group was released while the sync waited.
            Reply::Later(rx) => rx.await.unwrap_or_else(|_| fail(ErrorCode::NotCoordinator)),
        }
    }

    pub fn heartbeat(&self, group_id: &str, who: &Identity<'_>, generation_id: i32) -> ErrorCode {
        if let Err(code) = self.check_coordinator(group_id) {
            return code;
        }
        let now = self.clock.now_ms();
        match lock(&self.groups).classic.get_mut(group_id) {
            None => ErrorCode::UnknownMemberId,
            Some(g) => g.heartbeat(who, generation_id, now),
        }
    }

    /// LeaveGroup: the top-level error and one code per member.
    pub fn leave(&self, group_id: &str, members: &[Identity<'_>]) -> (ErrorCode, Vec<ErrorCode>) {
        if let Err(code) = self.check_coordinator(group_id) {
            return (code, Vec::new());
        }
        let now = self.clock.now_ms();
        let mut groups = lock(&self.groups);
        let Some(g) = groups.classic.get_mut(group_id) else {
            return (ErrorCode::None, members.iter().map(|_| ErrorCode::UnknownMemberId).collect());
        };
        let before = g.rebalances;
        let codes = members.iter().map(|who| g.leave(who, now, &self.cfg)).collect();
        metrics::counter!(m::GROUP_REBALANCES_TOTAL).increment(g.rebalances - before);
        (ErrorCode::None, codes)
    }

    /// OffsetCommit: validates the committer against the group, then
    /// persists. `generation_id < 0` with no member id is a "simple"
    /// commit, allowed for groups without members (assign()-style consumers).
    pub async fn commit_offsets(
        &self,
        group_id: &str,
        who: &Identity<'_>,
        generation_id: i32,
        offsets: Vec<CommittedOffset>,
    ) -> Result<(), GroupError> {
        self.check_coordinator(group_id)?;
        let record = self.check_committer(group_id, who, generation_id)?;
        self.store.commit_offsets(&record, &offsets).await?;
        metrics::counter!(m::GROUP_OFFSET_COMMITS_TOTAL).increment(offsets.len() as u64);
        let mut committed = lock(&self.committed);
        let mine = committed.entry(group_id.to_string()).or_default();
        for o in offsets {
            mine.insert((o.topic, o.partition), o.offset);
        }
        Ok(())
    }

    /// TxnOffsetCommit: offsets a transactional producer sends to the
    /// group, staged until its transaction ends (the transaction
    /// coordinator applies or drops them). The committer is checked only
    /// when it names a member or generation (v3+ clients, KIP-447); older
    /// requests carry neither. The store checks `txn` (see
    /// [`GroupOffsets::stage_txn_offsets`]).
    pub async fn stage_txn_offsets(
        &self,
        group_id: &str,
        who: &Identity<'_>,
        generation_id: i32,
        txn: &TxnOffsetsFor,
        offsets: Vec<CommittedOffset>,
    ) -> Result<(), GroupError> {
        self.check_coordinator(group_id)?;
        let record = if generation_id < 0 && who.member_id.is_empty() {
            GroupRecord { group_id: group_id.to_string(), protocol_type: String::new() }
        } else {
            self.check_committer(group_id, who, generation_id)?
        };
        Ok(self.store.stage_txn_offsets(&record, txn, &offsets).await?)
    }

    /// Whether `who` may commit offsets for the group now; the group's
    /// record as it should be stored.
    fn check_committer(
        &self,
        group_id: &str,
        who: &Identity<'_>,
        generation_id: i32,
    ) -> Result<GroupRecord, ErrorCode> {
        let protocol_type = {
            let mut groups = lock(&self.groups);
            if let Some(g) = groups.consumer.get(group_id) {
                g.check_commit(who.member_id, generation_id)?;
                "consumer".to_string()
            } else {
                let g = groups.classic.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id, None));
                match g.state {
                    GroupState::Dead => return Err(ErrorCode::CoordinatorNotAvailable),
                    GroupState::Empty if generation_id < 0 => {}
                    GroupState::CompletingRebalance => {
                        g.check_member(who, generation_id)?;
                        return Err(ErrorCode::RebalanceInProgress);
                    }
                    _ => g.check_member(who, generation_id)?,
                }
                g.protocol_type.clone().unwrap_or_default()
            }
        };
        Ok(GroupRecord { group_id: group_id.to_string(), protocol_type })
    }

    pub async fn fetch_offsets(&self, group_id: &str) -> Result<Vec<CommittedOffset>, GroupError> {
        self.check_coordinator(group_id)?;
        Ok(self.store.fetch_offsets(group_id).await?)
    }

    /// The partitions whose offsets some open transaction has staged for
    /// the group (OffsetFetch's require_stable).
    pub async fn pending_txn_offsets(&self, group_id: &str) -> Result<Vec<(String, i32)>, GroupError> {
        self.check_coordinator(group_id)?;
        Ok(self.store.pending_txn_offsets(group_id).await?)
    }

    pub fn describe(&self, group_id: &str) -> Result<Option<GroupDescription>, ErrorCode> {
        self.check_coordinator(group_id)?;
        let groups = lock(&self.groups);
        if groups.consumer.contains_key(group_id) {
            // Kafka: a consumer-protocol group is not described by the
            // classic API.
            return Err(ErrorCode::GroupIdNotFound);
        }
        let Some(g) = groups.classic.get(group_id) else { return Ok(None) };
        let protocol = g.protocol_name.clone().unwrap_or_default();
        let members = g
            .members
            .values()
            .map(|mem| MemberDescription {
                member_id: mem.member_id.clone(),
                instance_id: mem.instance_id.clone(),
                client_id: mem.client_id.clone(),
                client_host: mem.client_host.clone(),
                metadata: mem
                    .protocols
                    .iter()
                    .find(|(n, _)| *n == protocol)
                    .map(|(_, b)| b.clone())
                    .unwrap_or_default(),
                assignment: mem.assignment.clone(),
            })
            .collect();
        Ok(Some(GroupDescription {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol_name: if g.state == GroupState::Stable || g.state == GroupState::CompletingRebalance {
                protocol
            } else {
                String::new()
            },
            members,
        }))
    }

    /// Every group, sorted by id.
    pub fn list(&self) -> Vec<GroupListing> {
        let groups = lock(&self.groups);
        let classic = groups.classic.values().map(|g| GroupListing {
            group_id: g.id.clone(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            state: g.state.name(),
            group_type: "classic",
        });
        let consumer = groups.consumer.values().map(|g| GroupListing {
            group_id: g.id.clone(),
            protocol_type: "consumer".to_string(),
            state: g.state().name(),
            group_type: "consumer",
        });
        let mut v: Vec<_> = classic.chain(consumer).collect();
        v.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        v
    }

    /// DeleteGroups for one group: only groups without members.
    pub async fn delete_group(&self, group_id: &str) -> Result<(), GroupError> {
        self.check_coordinator(group_id)?;
        let existed = {
            let mut all = lock(&self.groups);
            if let Some(g) = all.consumer.get(group_id) {
                if !g.members.is_empty() {
                    return Err(ErrorCode::NonEmptyGroup.into());
                }
                all.consumer.remove(group_id);
                true
            } else {
                match all.classic.get_mut(group_id) {
                    Some(g) if !g.is_empty() || g.state != GroupState::Empty => {
                        return Err(ErrorCode::NonEmptyGroup.into())
                    }
                    Some(g) => {
                        g.kill();
                        all.classic.remove(group_id);
                        true
                    }
                    None => false,
                }
            }
        };
        if !existed && !self.has_committed(group_id) {
            return Err(ErrorCode::GroupIdNotFound.into());
        }
        lock(&self.committed).remove(group_id);
        Ok(self.store.delete_offsets(group_id, None).await?)
    }

    /// OffsetDelete: refuses partitions of topics the group subscribes to.
    /// Returns a code per requested partition.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<ErrorCode>, GroupError> {
        self.check_coordinator(group_id)?;
        let subscribed = {
            let groups = lock(&self.groups);
            if let Some(g) = groups.consumer.get(group_id) {
                Some(g.members.values().flat_map(|m| m.subscribed_topics.iter().cloned()).collect())
            } else {
                match groups.classic.get(group_id) {
                    None => return Err(ErrorCode::GroupIdNotFound.into()),
                    Some(g) if g.is_empty() => None,
                    Some(g) => match g.subscribed_topics() {
                        Some(topics) => Some(topics),
                        // Members whose protocol we cannot read: refuse, as
                        // Kafka refuses for non-consumer groups with members.
                        None => return Err(ErrorCode::NonEmptyGroup.into()),
                    },
                }
            }
        };
        let codes: Vec<ErrorCode> = partitions
            .iter()
            .map(|(t, _)| match &subscribed {
                Some(topics) if topics.contains(t) => ErrorCode::GroupSubscribedToTopic,
                _ => ErrorCode::None,
            })
            .collect();
        let deletable: Vec<(String, i32)> =
            partitions.iter().zip(&codes).filter(|(_, c)| **c == ErrorCode::None).map(|(p, _)| p.clone()).collect();
        self.store.delete_offsets(group_id, Some(&deletable)).await?;
        if let Some(mine) = lock(&self.committed).get_mut(group_id) {
            for p in &deletable {
                mine.remove(p);
            }
        }
        Ok(codes)
    }

    /// Releases groups coordinated elsewhere, expires sessions and completes
    /// timed-out rebalances; updates gauges.
    pub fn tick(&self) {
        let now = self.clock.now_ms();
        let mut groups = lock(&self.groups);
        self.release_unowned(&mut groups);
        let mut by_state: HashMap<&'static str, usize> = HashMap::new();
        let mut members = 0usize;
        for g in groups.classic.values_mut() {
            let before = g.rebalances;
            g.tick(now, &self.cfg);
            metrics::counter!(m::GROUP_REBALANCES_TOTAL).increment(g.rebalances - before);
            *by_state.entry(g.state.name()).or_default() += 1;
            members += g.members.len();
        }
        for g in groups.consumer.values_mut() {
            g.tick(now, &self.consumer_cfg);
            *by_state.entry(g.state().name()).or_default() += 1;
            members += g.members.len();
        }
        for s in ["Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Assigning", "Reconciling"] {
            metrics::gauge!(m::GROUPS, "state" => s).set(by_state.get(s).copied().unwrap_or(0) as f64);
        }
        metrics::gauge!(m::GROUP_MEMBERS).set(members as f64);
    }

    fn has_committed(&self, group_id: &str) -> bool {
        lock(&self.committed).contains_key(group_id)
    }

    /// ConsumerGroupHeartbeat (KIP-848).
    pub fn consumer_heartbeat(
        &self,
        group_id: &str,
        req: HeartbeatRequest,
        topics: &dyn Fn(&str) -> Option<TopicInfo>,
    ) -> HeartbeatResult {
        let fail = |error| HeartbeatResult {
            error,
            error_message: None,
            member_id: req.member_id.clone(),
            member_epoch: -1,
            heartbeat_interval_ms: 0,
            assignment: None,
        };
        if let Err(code) = self.check_coordinator(group_id) {
            return fail(code);
        }
        let now = self.clock.now_ms();
        let mut groups = lock(&self.groups);
        if let Err(code) = groups.claim_for_consumer(group_id) {
            return fail(code);
        }
        if req.member_epoch != 0 && !groups.consumer.contains_key(group_id) {
            return fail(ErrorCode::UnknownMemberId);
        }
        let g = groups.consumer.entry(group_id.to_string()).or_insert_with(|| ConsumerGroup::new(group_id));
        let epoch_before = g.group_epoch;
        let r = g.heartbeat(req, now, &self.consumer_cfg, topics);
        if g.group_epoch != epoch_before {
            metrics::counter!(m::GROUP_REBALANCES_TOTAL).increment(1);
        }
        r
    }

    /// ConsumerGroupDescribe: a snapshot of a consumer-protocol group.
    pub fn describe_consumer_group(&self, group_id: &str) -> Result<ConsumerGroupDescription, ErrorCode> {
        self.check_coordinator(group_id)?;
        let groups = lock(&self.groups);
        let Some(g) = groups.consumer.get(group_id) else {
            return Err(ErrorCode::GroupIdNotFound);
        };
        Ok(ConsumerGroupDescription {
            state: g.state().name(),
            group_epoch: g.group_epoch,
            assignment_epoch: g.assignment_epoch,
            assignor: g.assignor.clone(),
            members: g.members.values().map(|m| (m.clone(), g.target_of(&m.member_id))).collect(),
        })
    }

    /// The coordinator's ticker, until the process ends: timeouts every
    /// `tick_ms`; groups taken over from the store when brokers come or go;
    /// the lag gauges every `lag_metrics_interval_ms`.
    pub async fn run(self: Arc<Self>, ticks: GroupTicks, end_offsets: EndOffsets) {
        let mut membership = self.membership.subscribe();
        let lag_every = (ticks.lag_metrics_interval_ms / ticks.tick_ms.max(1)).max(1);
        let mut n = 0u64;
        loop {
            tokio::time::sleep(Duration::from_millis(ticks.tick_ms)).await;
            self.tick();
            if membership.has_changed().unwrap_or(false) {
                membership.mark_unchanged();
                // Groups of a broker that left (or that moved here) are
                // loaded from the store; until then their members rejoin
                // an empty group.
                match self.adopt_owned_groups().await {
                    Ok(0) => {}
                    Ok(adopted) => info!(adopted, "took over groups from the store"),
                    Err(e) => {
                        warn!(error = %e, "cannot load groups this broker now coordinates; retrying");
                        membership.mark_changed();
                    }
                }
            }
            n += 1;
            if n.is_multiple_of(lag_every) {
                self.report_lag(&end_offsets);
            }
        }
    }

    /// Sets the lag gauge of every committed partition.
    fn report_lag(&self, end_offsets: &EndOffsets) {
        for (group, topic, partition, committed) in self.committed_offsets() {
            let Some(end) = end_offsets(&topic, partition) else { continue };
            let lag = (end - committed).max(0);
            metrics::gauge!(m::GROUP_CONSUMER_LAG, "group" => group, "topic" => topic, "partition" => partition.to_string())
                .set(lag as f64);
        }
    }

    /// Committed offsets of every group, for lag metrics.
    pub fn committed_offsets(&self) -> Vec<(String, String, i32, i64)> {
        lock(&self.committed)
            .iter()
            .flat_map(|(g, offs)| offs.iter().map(move |((t, p), o)| (g.clone(), t.clone(), *p, *o)))
            .collect()
    }
}

#[cfg(test)]
mod tests;
