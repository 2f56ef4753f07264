//! KIP-848 consumer groups (`group.protocol=consumer`): the broker computes
//! assignments and members reconcile towards them through
//! ConsumerGroupHeartbeat.
//!
//! Epochs: the group epoch moves whenever membership, subscriptions or the
//! subscribed topics' partition counts change; the target assignment is then
//! recomputed (assignment epoch = group epoch). Each member moves to the
//! target at its own pace: partitions it must give up are revoked first (the
//! member keeps its epoch until it reports them gone), partitions still owned
//! by another member are handed over only once released, and the member
//! takes the target epoch once nothing is left to revoke.
//!
//! Pure logic like [`super::machine`]: time and topic metadata are passed in.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use indexmap::IndexMap;
use uuid::Uuid;

use crate::protocol::ErrorCode;

/// Partitions by topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// What the group needs to know about a subscribed topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicInfo {
    pub id: Uuid,
    pub partitions: i32,
}

/// Server-side assignors this broker offers (KIP-848 names).
pub const ASSIGNORS: [&str; 2] = ["uniform", "range"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    Assigning,
    Reconciling,
    Stable,
    Dead,
}

impl ConsumerGroupState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::Assigning => "Assigning",
            Self::Reconciling => "Reconciling",
            Self::Stable => "Stable",
            Self::Dead => "Dead",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topics: Option<Vec<String>>,
    pub server_assignor: Option<String>,
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatResult {
    pub error: ErrorCode,
    pub error_message: Option<String>,
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The member's full assignment when it changed, else `None`.
    pub assignment: Option<Assignment>,
}

#[derive(Debug, Clone)]
pub struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topics: Vec<String>,
    pub rebalance_timeout_ms: i32,
    pub member_epoch: i32,
    previous_epoch: i32,
    /// What the member owns (or must still revoke).
    pub assigned: Assignment,
    /// Partitions the member was told to give up and has not yet.
    revoking: Assignment,
    last_sent: Option<(i32, Assignment)>,
    pub last_heartbeat_ms: i64,
    /// Since when the member has been asked to revoke.
    revoking_since_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct ConsumerGroupConfig {
    pub session_timeout_ms: i64,
    pub heartbeat_interval_ms: i32,
    pub members_max: usize,
}

impl Default for ConsumerGroupConfig {
    fn default() -> Self {
        // Kafka's group.consumer.session.timeout.ms / heartbeat.interval.ms.
        Self { session_timeout_ms: 45_000, heartbeat_interval_ms: 5_000, members_max: 1000 }
    }
}

#[derive(Debug)]
pub struct ConsumerGroup {
    pub id: String,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    pub members: IndexMap<String, ConsumerMember>,
    pub target: HashMap<String, Assignment>,
    /// Partition counts of subscribed topics when the target was computed.
    topics_seen: BTreeMap<String, Option<TopicInfo>>,
    static_members: HashMap<String, String>,
    pub dead: bool,
}

fn minus(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (t, ps) in a {
        let rest: BTreeSet<i32> = ps.iter().filter(|p| !b.get(t).is_some_and(|s| s.contains(p))).copied().collect();
        if !rest.is_empty() {
            out.insert(*t, rest);
        }
    }
    out
}

fn intersect(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (t, ps) in a {
        if let Some(other) = b.get(t) {
            let both: BTreeSet<i32> = ps.intersection(other).copied().collect();
            if !both.is_empty() {
                out.insert(*t, both);
            }
        }
    }
    out
}

fn union(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = a.clone();
    for (t, ps) in b {
        out.entry(*t).or_default().extend(ps.iter().copied());
    }
    out
}

impl ConsumerGroup {
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_string(),
            group_epoch: 0,
            assignment_epoch: 0,
            assignor: ASSIGNORS[0].to_string(),
            members: IndexMap::new(),
            target: HashMap::new(),
            topics_seen: BTreeMap::new(),
            static_members: HashMap::new(),
            dead: false,
        }
    }

    pub fn state(&self) -> ConsumerGroupState {
        if self.dead {
            return ConsumerGroupState::Dead;
        }
        if self.members.is_empty() {
            return ConsumerGroupState::Empty;
        }
        if self.assignment_epoch != self.group_epoch {
            return ConsumerGroupState::Assigning;
        }
        let reconciled = self
            .members
            .values()
            .all(|m| m.member_epoch == self.assignment_epoch && Some(&m.assigned) == self.target.get(&m.member_id));
        if reconciled {
            ConsumerGroupState::Stable
        } else {
            ConsumerGroupState::Reconciling
        }
    }

    fn fail(&self, req: &HeartbeatRequest, error: ErrorCode, message: &str) -> HeartbeatResult {
        HeartbeatResult {
            error,
            error_message: Some(message.to_string()),
            member_id: req.member_id.clone(),
            member_epoch: -1,
            heartbeat_interval_ms: 0,
            assignment: None,
        }
    }

    /// One ConsumerGroupHeartbeat. `topics` resolves topic names.
    pub fn heartbeat(
        &mut self,
        req: HeartbeatRequest,
        now_ms: i64,
        cfg: &ConsumerGroupConfig,
        topics: &dyn Fn(&str) -> Option<TopicInfo>,
    ) -> HeartbeatResult {
        if let Some(a) = &req.server_assignor {
            if !ASSIGNORS.contains(&a.as_str()) {
                return self.fail(&req, ErrorCode::UnsupportedAssignor, "unknown server assignor");
            }
        }
        match req.member_epoch {
            -1 | -2 => return self.leave(&req),
            _ => {}
        }
        let member_id = if req.member_epoch == 0 {
            if req.subscribed_topics.as_ref().is_none_or(|t| t.is_empty()) || req.rebalance_timeout_ms <= 0 {
                return self.fail(
                    &req,
                    ErrorCode::InvalidRequest,
                    "a joining member must give its subscription and rebalance timeout",
                );
            }
            match self.join(&req, now_ms, cfg) {
                Ok(id) => id,
                Err(r) => return r,
            }
        } else {
            let Some(m) = self.members.get(&req.member_id) else {
                return self.fail(&req, ErrorCode::UnknownMemberId, "unknown member");
            };
            if req.member_epoch != m.member_epoch && req.member_epoch != m.previous_epoch {
                return self.fail(&req, ErrorCode::FencedMemberEpoch, "member epoch is fenced");
            }
            req.member_id.clone()
        };
        // Updates carried by this heartbeat.
        let mut changed = false;
        {
            let m = self.members.get_mut(&member_id).expect("member present");
            m.last_heartbeat_ms = now_ms;
            if let Some(sub) = &req.subscribed_topics {
                let mut sub = sub.clone();
                sub.sort();
                sub.dedup();
                if sub != m.subscribed_topics {
                    m.subscribed_topics = sub;
                    changed = true;
                }
            }
            if req.rebalance_timeout_ms > 0 {
                m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            }
            if let Some(owned) = &req.owned {
                // Revocations the member confirms by no longer owning them.
                let still = intersect(&m.revoking, owned);
                let released = minus(&m.revoking, &still);
                m.assigned = minus(&m.assigned, &released);
                m.revoking = still;
                if m.revoking.is_empty() {
                    m.revoking_since_ms = None;
                }
            }
        }
        if let Some(a) = &req.server_assignor {
            if *a != self.assignor {
                self.assignor = a.clone();
                changed = true;
            }
        }
        if changed || self.topics_changed(topics) {
            self.group_epoch += 1;
        }
        if self.assignment_epoch != self.group_epoch {
            self.compute_target(topics);
        }
        self.reconcile(&member_id, now_ms);
        let m = self.members.get_mut(&member_id).expect("member present");
        // What the member should own now: its assignment minus what it must
        // revoke. Sent whenever that or the epoch changed.
        let now_state = (m.member_epoch, minus(&m.assigned, &m.revoking));
        let assignment = if m.last_sent.as_ref() != Some(&now_state) {
            m.last_sent = Some(now_state.clone());
            Some(now_state.1)
        } else {
            None
        };
        HeartbeatResult {
            error: ErrorCode::None,
            error_message: None,
            member_id,
            member_epoch: m.member_epoch,
            heartbeat_interval_ms: cfg.heartbeat_interval_ms,
            assignment,
        }
    }

    /// Adds (or re-admits) a member; returns its id.
    fn join(
        &mut self,
        req: &HeartbeatRequest,
        now_ms: i64,
        cfg: &ConsumerGroupConfig,
    ) -> Result<String, HeartbeatResult> {
        // v1 clients choose their member id; v0 clients leave it to us.
        let member_id = if req.member_id.is_empty() {
            format!("{}-{}", req.client_id, Uuid::new_v4())
        } else {
            req.member_id.clone()
        };
        if let Some(instance) = &req.instance_id {
            if let Some(old) = self.static_members.get(instance).cloned() {
                if old != member_id {
                    // A restarted static member takes over its predecessor's
                    // assignment (KIP-345 semantics carried into KIP-848).
                    if let Some(mut prev) = self.members.shift_remove(&old) {
                        prev.member_id = member_id.clone();
                        prev.member_epoch = 0;
                        prev.previous_epoch = 0;
                        prev.last_sent = None;
                        if let Some(t) = self.target.remove(&old) {
                            self.target.insert(member_id.clone(), t);
                        }
                        self.members.insert(member_id.clone(), prev);
                    }
                }
            }
            self.static_members.insert(instance.clone(), member_id.clone());
        }
        if self.members.contains_key(&member_id) {
            let m = self.members.get_mut(&member_id).expect("present");
            m.client_id = req.client_id.clone();
            m.client_host = req.client_host.clone();
            return Ok(member_id);
        }
        if self.members.len() >= cfg.members_max {
            return Err(self.fail(req, ErrorCode::GroupMaxSizeReached, "group is full"));
        }
        self.members.insert(
            member_id.clone(),
            ConsumerMember {
                member_id: member_id.clone(),
                instance_id: req.instance_id.clone(),
                rack_id: req.rack_id.clone(),
                client_id: req.client_id.clone(),
                client_host: req.client_host.clone(),
                subscribed_topics: Vec::new(),
                rebalance_timeout_ms: req.rebalance_timeout_ms,
                member_epoch: 0,
                previous_epoch: 0,
                assigned: Assignment::new(),
                revoking: Assignment::new(),
                last_sent: None,
                last_heartbeat_ms: now_ms,
                revoking_since_ms: None,
            },
        );
        // The group epoch moves when the newcomer's subscription is recorded.
        Ok(member_id)
    }

    fn leave(&mut self, req: &HeartbeatRequest) -> HeartbeatResult {
        if !self.members.contains_key(&req.member_id) {
            return self.fail(req, ErrorCode::UnknownMemberId, "unknown member");
        }
        self.remove(&req.member_id);
        HeartbeatResult {
            error: ErrorCode::None,
            error_message: None,
            member_id: req.member_id.clone(),
            member_epoch: req.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        }
    }

    fn remove(&mut self, member_id: &str) {
        if let Some(m) = self.members.shift_remove(member_id) {
            if let Some(i) = &m.instance_id {
                if self.static_members.get(i).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(i);
                }
            }
            self.target.remove(member_id);
            self.group_epoch += 1;
        }
    }

    fn subscribed(&self) -> BTreeSet<String> {
        self.members.values().flat_map(|m| m.subscribed_topics.iter().cloned()).collect()
    }

    fn topics_changed(&self, topics: &dyn Fn(&str) -> Option<TopicInfo>) -> bool {
        let now: BTreeMap<String, Option<TopicInfo>> =
            self.subscribed().into_iter().map(|t| (t.clone(), topics(&t))).collect();
        now != self.topics_seen
    }

    /// The uniform assignor, sticky: a partition stays with its current
    /// target owner while that member is subscribed and under its fair share.
    fn compute_target(&mut self, topics: &dyn Fn(&str) -> Option<TopicInfo>) {
        let seen: BTreeMap<String, Option<TopicInfo>> =
            self.subscribed().into_iter().map(|t| (t.clone(), topics(&t))).collect();
        let mut partitions: Vec<(String, Uuid, i32)> = Vec::new();
        for (name, info) in &seen {
            if let Some(info) = info {
                partitions.extend((0..info.partitions).map(|p| (name.clone(), info.id, p)));
            }
        }
        let members: Vec<String> = self.members.keys().cloned().collect();
        let mut load: HashMap<&str, usize> = members.iter().map(|m| (m.as_str(), 0)).collect();
        let mut next: HashMap<String, Assignment> = members.iter().map(|m| (m.clone(), Assignment::new())).collect();
        let eligible = |topic: &str| -> Vec<&String> {
            members.iter().filter(|m| self.members[*m].subscribed_topics.iter().any(|t| t == topic)).collect()
        };
        let mut unplaced = Vec::new();
        // Sticky pass: keep partitions where they were, within fair share.
        for (topic, id, p) in &partitions {
            let who = eligible(topic);
            let share = partitions.iter().filter(|(t, _, _)| t == topic).count().div_ceil(who.len().max(1));
            let owner = self.target.iter().find(|(m, a)| a.get(id).is_some_and(|s| s.contains(p)) && who.contains(m));
            match owner {
                Some((m, _)) if load[m.as_str()] < share.max(1) => {
                    *load.get_mut(m.as_str()).expect("member") += 1;
                    next.get_mut(m).expect("member").entry(*id).or_default().insert(*p);
                }
                _ => unplaced.push((topic.clone(), *id, *p)),
            }
        }
        // Then the rest to the least loaded subscriber.
        for (topic, id, p) in unplaced {
            let who = eligible(&topic);
            if let Some(m) = who.iter().min_by_key(|m| (load[m.as_str()], m.as_str())) {
                *load.get_mut(m.as_str()).expect("member") += 1;
                next.get_mut(*m).expect("member").entry(id).or_default().insert(p);
            }
        }
        self.target = next;
        self.topics_seen = seen;
        self.assignment_epoch = self.group_epoch;
    }

    /// Moves one member towards its target.
    fn reconcile(&mut self, member_id: &str, now_ms: i64) {
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let owned_by_others: Assignment = self
            .members
            .values()
            .filter(|m| m.member_id != member_id)
            .fold(Assignment::new(), |acc, m| union(&acc, &m.assigned));
        let epoch = self.assignment_epoch;
        let m = self.members.get_mut(member_id).expect("member present");
        let to_revoke = minus(&m.assigned, &target);
        if !to_revoke.is_empty() {
            m.revoking = to_revoke;
            m.revoking_since_ms.get_or_insert(now_ms);
            return;
        }
        let free = minus(&minus(&target, &m.assigned), &owned_by_others);
        m.assigned = union(&m.assigned, &free);
        if m.member_epoch != epoch {
            m.previous_epoch = m.member_epoch;
            m.member_epoch = epoch;
        }
    }

    /// Expires silent members and members that do not revoke in time.
    pub fn tick(&mut self, now_ms: i64, cfg: &ConsumerGroupConfig) {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                now_ms > m.last_heartbeat_ms + cfg.session_timeout_ms
                    || m.revoking_since_ms.is_some_and(|t| now_ms > t + i64::from(m.rebalance_timeout_ms))
            })
            .map(|m| m.member_id.clone())
            .collect();
        for id in gone {
            tracing::info!(group = %self.id, member = %id, "consumer group member expired");
            self.remove(&id);
        }
    }

    /// Validates an offset commit against a member and its epoch.
    pub fn check_commit(&self, member_id: &str, member_epoch: i32) -> Result<(), ErrorCode> {
        if member_epoch < 0 && member_id.is_empty() {
            return if self.members.is_empty() { Ok(()) } else { Err(ErrorCode::UnknownMemberId) };
        }
        let m = self.members.get(member_id).ok_or(ErrorCode::UnknownMemberId)?;
        if member_epoch != m.member_epoch && member_epoch != m.previous_epoch {
            return Err(ErrorCode::StaleMemberEpoch);
        }
        Ok(())
    }

    pub fn target_of(&self, member_id: &str) -> Assignment {
        self.target.get(member_id).cloned().unwrap_or_default()
    }
}
