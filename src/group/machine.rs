//! One consumer group under the classic protocol: membership, rebalances,
//! assignments, session and rebalance timeouts, static membership (KIP-345).
//!
//! Pure logic: time comes in as `now_ms`, and delayed answers (a JoinGroup
//! held until the rebalance completes, a follower's SyncGroup held until the
//! leader's) are oneshot channels completed by later calls. The coordinator
//! runtime owns the groups and drives [`Group::tick`].

use bytes::Bytes;
use indexmap::IndexMap;
use std::collections::HashMap;
use tokio::sync::oneshot;

use super::state::GroupState;
use crate::protocol::ErrorCode;

/// Bounds and delays of the group protocol, with Kafka's defaults.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: a new group waits this long for
    /// more members before its first rebalance completes.
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms` / `group.max.session.timeout.ms`.
    pub session_timeout_min_ms: i32,
    pub session_timeout_max_ms: i32,
    /// `group.max.size`.
    pub members_max: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            initial_rebalance_delay_ms: 3000,
            session_timeout_min_ms: 6000,
            session_timeout_max_ms: 1_800_000,
            members_max: 1000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new member first gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
    /// JoinGroup v9+: the client honours `skip_assignment` (KIP-814).
    pub supports_skip_assignment: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    pub error: ErrorCode,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Only the leader receives the member list.
    pub members: Vec<JoinedMember>,
    /// KIP-814: a rejoining static leader must not recompute assignments.
    pub skip_assignment: bool,
}

impl JoinResult {
    pub fn error(error: ErrorCode, member_id: &str) -> Self {
        Self {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    fn error(error: ErrorCode) -> Self {
        Self { error, protocol_type: None, protocol_name: None, assignment: Bytes::new() }
    }
}

/// An answer now, or one that a later event delivers.
#[derive(Debug)]
pub enum Reply<T> {
    Now(T),
    Later(oneshot::Receiver<T>),
}

#[derive(Debug)]
pub struct Member {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub last_heartbeat_ms: i64,
    join_waiter: Option<oneshot::Sender<JoinResult>>,
    sync_waiter: Option<oneshot::Sender<SyncResult>>,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(n, _)| n == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }

    fn is_awaiting_join(&self) -> bool {
        self.join_waiter.is_some()
    }
}

/// What a member-identifying request names: (member id, instance id).
pub struct Identity<'a> {
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
}

#[derive(Debug)]
pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    pub members: IndexMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with their expiry.
    pending_members: HashMap<String, i64>,
    static_members: HashMap<String, String>,
    rebalance_deadline_ms: i64,
    /// The join may not complete before this (initial rebalance delay).
    join_not_before_ms: i64,
    /// Rebalances started, for metrics.
    pub rebalances: u64,
}

fn differs(a: &[(String, Bytes)], b: &[(String, Bytes)]) -> bool {
    a != b
}

impl Group {
    pub fn new(id: &str, protocol_type: Option<String>) -> Self {
        Self {
            id: id.to_string(),
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type,
            protocol_name: None,
            leader_id: None,
            members: IndexMap::new(),
            pending_members: HashMap::new(),
            static_members: HashMap::new(),
            rebalance_deadline_ms: 0,
            join_not_before_ms: 0,
            rebalances: 0,
        }
    }

    fn transition(&mut self, next: GroupState) {
        self.state.check_transition(next);
        self.state = next;
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// FENCED_INSTANCE_ID when a static instance id is held by another member.
    fn check_instance(&self, who: &Identity<'_>) -> Result<(), ErrorCode> {
        if let Some(instance) = who.instance_id {
            if let Some(owner) = self.static_members.get(instance) {
                if owner != who.member_id {
                    return Err(ErrorCode::FencedInstanceId);
                }
            }
        }
        Ok(())
    }

    /// Validates a member-scoped request against the current generation.
    pub fn check_member(&self, who: &Identity<'_>, generation_id: i32) -> Result<(), ErrorCode> {
        if self.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        self.check_instance(who)?;
        if !self.members.contains_key(who.member_id) {
            return Err(ErrorCode::UnknownMemberId);
        }
        if generation_id != self.generation_id {
            return Err(ErrorCode::IllegalGeneration);
        }
        Ok(())
    }

    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocols.is_empty() || protocol_type.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        // Some protocol must be supported by every member and by the joiner.
        protocols.iter().any(|(name, _)| self.members.values().all(|m| m.protocols.iter().any(|(n, _)| n == name)))
    }

    pub fn join(&mut self, req: JoinRequest, now_ms: i64, cfg: &GroupConfig) -> Reply<JoinResult> {
        let fail = |code| Reply::Now(JoinResult::error(code, &req.member_id));
        if self.state == GroupState::Dead {
            return fail(ErrorCode::CoordinatorNotAvailable);
        }
        if req.session_timeout_ms < cfg.session_timeout_min_ms || req.session_timeout_ms > cfg.session_timeout_max_ms {
            return fail(ErrorCode::InvalidSessionTimeout);
        }
        let known = self.members.contains_key(&req.member_id);
        let pending = self.pending_members.contains_key(&req.member_id);
        // A sole member may change its protocols freely.
        let sole_member = known && self.members.len() == 1;
        if !(self.supports(&req.protocol_type, &req.protocols) || sole_member) {
            return fail(ErrorCode::InconsistentGroupProtocol);
        }
        if req.member_id.is_empty() {
            return self.join_unknown(req, now_ms, cfg);
        }
        if pending {
            self.pending_members.remove(&req.member_id);
            return self.add_member_and_rebalance(req, now_ms, cfg);
        }
        if !known {
            return fail(ErrorCode::UnknownMemberId);
        }
        let who = Identity { member_id: &req.member_id, instance_id: req.instance_id.as_deref() };
        if let Err(code) = self.check_instance(&who) {
            return fail(code);
        }
        self.join_known(req, now_ms, cfg)
    }

    fn new_member_id(client_id: &str) -> String {
        format!("{client_id}-{}", uuid::Uuid::new_v4())
    }

    fn join_unknown(&mut self, mut req: JoinRequest, now_ms: i64, cfg: &GroupConfig) -> Reply<JoinResult> {
        let new_id = Self::new_member_id(&req.client_id);
        if let Some(instance) = req.instance_id.clone() {
            if let Some(old_id) = self.static_members.get(&instance).cloned() {
                return self.replace_static_member(&old_id, new_id, req, now_ms, cfg);
            }
            req.member_id = new_id;
            return self.add_member_and_rebalance(req, now_ms, cfg);
        }
        if req.require_known_member_id {
            // Like Kafka, a member id handed out with MEMBER_ID_REQUIRED is
            // held for one session timeout; until then it counts as a member
            // the rebalance waits for.
            self.pending_members.insert(new_id.clone(), now_ms + i64::from(req.session_timeout_ms));
            return Reply::Now(JoinResult::error(ErrorCode::MemberIdRequired, &new_id));
        }
        if self.members.len() >= cfg.members_max {
            return Reply::Now(JoinResult::error(ErrorCode::GroupMaxSizeReached, ""));
        }
        req.member_id = new_id;
        self.add_member_and_rebalance(req, now_ms, cfg)
    }

    /// A static member came back with a new member id (KIP-345): it takes
    /// over the old member's place. In a stable group whose selected
    /// protocol does not change no rebalance happens: it gets the current
    /// generation (its new metadata, e.g. owned partitions of a sticky
    /// assignor, is kept for the next rebalance). A returning leader learns
    /// it leads only where it can skip the assignment (JoinGroup v9,
    /// KIP-814); older versions are answered as a follower, with the old
    /// leader id, so the client does not recompute assignments.
    fn replace_static_member(
        &mut self,
        old_id: &str,
        new_id: String,
        req: JoinRequest,
        now_ms: i64,
        cfg: &GroupConfig,
    ) -> Reply<JoinResult> {
        let Some(mut member) = self.members.shift_remove(old_id) else {
            // The static mapping outlived the member: treat as new.
            self.static_members.remove(req.instance_id.as_deref().unwrap_or_default());
            let mut req = req;
            req.member_id = new_id;
            return self.add_member_and_rebalance(req, now_ms, cfg);
        };
        if let Some(w) = member.join_waiter.take() {
            let _ = w.send(JoinResult::error(ErrorCode::FencedInstanceId, old_id));
        }
        if let Some(w) = member.sync_waiter.take() {
            let _ = w.send(SyncResult::error(ErrorCode::FencedInstanceId));
        }
        member.member_id = new_id.clone();
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.protocols = req.protocols.clone();
        member.last_heartbeat_ms = now_ms;
        let was_leader = self.leader_id.as_deref() == Some(old_id);
        self.members.insert(new_id.clone(), member);
        if was_leader {
            self.leader_id = Some(new_id.clone());
        }
        if let Some(instance) = &req.instance_id {
            self.static_members.insert(instance.clone(), new_id.clone());
        }
        let protocol_kept = self.select_protocol() == self.protocol_name;
        if self.state == GroupState::Stable && protocol_kept {
            let protocol = self.protocol_name.clone().unwrap_or_default();
            let leads = was_leader && req.supports_skip_assignment;
            let leader =
                if was_leader && !leads { old_id.to_string() } else { self.leader_id.clone().unwrap_or_default() };
            tracing::info!(group = %self.id, member = %new_id, replaced = %old_id, "static member rejoined without a rebalance");
            return Reply::Now(JoinResult {
                error: ErrorCode::None,
                generation_id: self.generation_id,
                protocol_type: self.protocol_type.clone(),
                protocol_name: self.protocol_name.clone(),
                leader,
                member_id: new_id,
                members: if leads { self.member_list(&protocol) } else { Vec::new() },
                skip_assignment: leads,
            });
        }
        let (tx, rx) = oneshot::channel();
        self.members.get_mut(&new_id).expect("just inserted").join_waiter = Some(tx);
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now_ms, cfg);
        }
        self.maybe_complete_join(now_ms);
        Reply::Later(rx)
    }

    fn add_member_and_rebalance(&mut self, req: JoinRequest, now_ms: i64, cfg: &GroupConfig) -> Reply<JoinResult> {
        let (tx, rx) = oneshot::channel();
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        if let Some(instance) = &req.instance_id {
            self.static_members.insert(instance.clone(), req.member_id.clone());
        }
        let member = Member {
            member_id: req.member_id.clone(),
            instance_id: req.instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocols: req.protocols,
            assignment: Bytes::new(),
            last_heartbeat_ms: now_ms,
            join_waiter: Some(tx),
            sync_waiter: None,
        };
        self.members.insert(req.member_id, member);
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now_ms, cfg);
        } else {
            // A member joining during the initial delay pushes it back, up
            // to the rebalance timeout (Kafka's delayed initial join).
            if self.join_not_before_ms > now_ms {
                self.join_not_before_ms = (now_ms + cfg.initial_rebalance_delay_ms).min(self.rebalance_deadline_ms);
            }
        }
        self.maybe_complete_join(now_ms);
        Reply::Later(rx)
    }

    fn join_known(&mut self, req: JoinRequest, now_ms: i64, cfg: &GroupConfig) -> Reply<JoinResult> {
        let member_id = req.member_id.clone();
        let changed = differs(&self.members[&member_id].protocols, &req.protocols);
        let is_leader = self.leader_id.as_deref() == Some(member_id.as_str());
        match self.state {
            GroupState::CompletingRebalance | GroupState::Stable
                if !(changed || is_leader && self.state == GroupState::Stable) =>
            {
                // The member lost its join response, or a follower rejoins
                // with the same metadata: answer with the current generation.
                let protocol = self.protocol_name.clone().unwrap_or_default();
                let members = if is_leader { self.member_list(&protocol) } else { Vec::new() };
                let m = self.members.get_mut(&member_id).expect("known");
                m.last_heartbeat_ms = now_ms;
                Reply::Now(JoinResult {
                    error: ErrorCode::None,
                    generation_id: self.generation_id,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    leader: self.leader_id.clone().unwrap_or_default(),
                    member_id,
                    members,
                    skip_assignment: false,
                })
            }
            GroupState::Empty | GroupState::Dead => {
                Reply::Now(JoinResult::error(ErrorCode::UnknownMemberId, &member_id))
            }
            _ => {
                let (tx, rx) = oneshot::channel();
                let m = self.members.get_mut(&member_id).expect("known");
                m.protocols = req.protocols;
                m.session_timeout_ms = req.session_timeout_ms;
                m.rebalance_timeout_ms = req.rebalance_timeout_ms;
                m.last_heartbeat_ms = now_ms;
                if let Some(old) = m.join_waiter.replace(tx) {
                    // A duplicate join: the older request is superseded.
                    let _ = old.send(JoinResult::error(ErrorCode::UnknownMemberId, &member_id));
                }
                if self.state != GroupState::PreparingRebalance {
                    self.prepare_rebalance(now_ms, cfg);
                }
                self.maybe_complete_join(now_ms);
                Reply::Later(rx)
            }
        }
    }

    fn member_list(&self, protocol: &str) -> Vec<JoinedMember> {
        self.members
            .values()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                instance_id: m.instance_id.clone(),
                metadata: m.metadata_for(protocol),
            })
            .collect()
    }

    fn prepare_rebalance(&mut self, now_ms: i64, cfg: &GroupConfig) {
        if self.state == GroupState::CompletingRebalance {
            for m in self.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send(SyncResult::error(ErrorCode::RebalanceInProgress));
                }
            }
        }
        let rebalance_timeout = self.members.values().map(|m| i64::from(m.rebalance_timeout_ms)).max().unwrap_or(0);
        let initial = self.state == GroupState::Empty;
        self.transition(GroupState::PreparingRebalance);
        self.rebalance_deadline_ms = now_ms + rebalance_timeout;
        self.join_not_before_ms =
            if initial { (now_ms + cfg.initial_rebalance_delay_ms).min(self.rebalance_deadline_ms) } else { now_ms };
        self.rebalances += 1;
    }

    fn maybe_complete_join(&mut self, now_ms: i64) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = self.members.values().all(Member::is_awaiting_join) && self.pending_members.is_empty();
        if (all_joined && now_ms >= self.join_not_before_ms) || now_ms >= self.rebalance_deadline_ms {
            self.complete_join(now_ms);
        }
    }

    /// Picks the protocol every member supports with the most first-choice
    /// votes.
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| self.members.values().all(|m| m.protocols.iter().any(|(x, _)| x == *n)))
            .collect();
        let mut votes: IndexMap<&String, usize> = candidates.iter().map(|c| (*c, 0)).collect();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| votes.contains_key(n)) {
                *votes.get_mut(name).expect("candidate") += 1;
            }
        }
        let max = votes.values().copied().max()?;
        votes.into_iter().find(|(_, v)| *v == max).map(|(n, _)| n.clone())
    }

    fn complete_join(&mut self, now_ms: i64) {
        // Members that did not rejoin in time are dropped.
        let gone: Vec<String> =
            self.members.values().filter(|m| !m.is_awaiting_join()).map(|m| m.member_id.clone()).collect();
        for id in gone {
            self.remove_member_entry(&id);
        }
        self.pending_members.clear();
        self.generation_id += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.leader_id = None;
            self.transition(GroupState::Empty);
            return;
        }
        self.protocol_name = self.select_protocol();
        let leader_still_here = self.leader_id.as_ref().is_some_and(|l| self.members.contains_key(l));
        if !leader_still_here {
            self.leader_id = self.members.keys().next().cloned();
        }
        self.transition(GroupState::CompletingRebalance);
        tracing::info!(
            group = %self.id,
            generation = self.generation_id,
            members = self.members.len(),
            protocol = ?self.protocol_name,
            "rebalance: join phase complete"
        );
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let leader = self.leader_id.clone().unwrap_or_default();
        let all = self.member_list(&protocol);
        for m in self.members.values_mut() {
            m.last_heartbeat_ms = now_ms;
            let Some(w) = m.join_waiter.take() else { continue };
            let members = if m.member_id == leader { all.clone() } else { Vec::new() };
            let _ = w.send(JoinResult {
                error: ErrorCode::None,
                generation_id: self.generation_id,
                protocol_type: self.protocol_type.clone(),
                protocol_name: self.protocol_name.clone(),
                leader: leader.clone(),
                member_id: m.member_id.clone(),
                members,
                skip_assignment: false,
            });
        }
    }

    pub fn sync(&mut self, req: SyncRequest, now_ms: i64) -> Reply<SyncResult> {
        let who = Identity { member_id: &req.member_id, instance_id: req.instance_id.as_deref() };
        if let Err(code) = self.check_member(&who, req.generation_id) {
            // An unknown member in an empty group, or a stale generation.
            return Reply::Now(SyncResult::error(code));
        }
        let type_mismatch = req.protocol_type.as_ref().is_some_and(|t| Some(t) != self.protocol_type.as_ref());
        let name_mismatch = req.protocol_name.as_ref().is_some_and(|n| Some(n) != self.protocol_name.as_ref());
        if type_mismatch || name_mismatch {
            return Reply::Now(SyncResult::error(ErrorCode::InconsistentGroupProtocol));
        }
        match self.state {
            GroupState::PreparingRebalance => Reply::Now(SyncResult::error(ErrorCode::RebalanceInProgress)),
            GroupState::Stable => {
                let m = self.members.get_mut(&req.member_id).expect("checked");
                m.last_heartbeat_ms = now_ms;
                let assignment = m.assignment.clone();
                Reply::Now(SyncResult {
                    error: ErrorCode::None,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    assignment,
                })
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                let m = self.members.get_mut(&req.member_id).expect("checked");
                m.last_heartbeat_ms = now_ms;
                m.sync_waiter = Some(tx);
                if self.leader_id.as_deref() == Some(req.member_id.as_str()) {
                    let given: HashMap<String, Bytes> = req.assignments.into_iter().collect();
                    for m in self.members.values_mut() {
                        m.assignment = given.get(&m.member_id).cloned().unwrap_or_default();
                    }
                    self.transition(GroupState::Stable);
                    let (protocol_type, protocol_name) = (self.protocol_type.clone(), self.protocol_name.clone());
                    for m in self.members.values_mut() {
                        if let Some(w) = m.sync_waiter.take() {
                            let _ = w.send(SyncResult {
                                error: ErrorCode::None,
                                protocol_type: protocol_type.clone(),
                                protocol_name: protocol_name.clone(),
                                assignment: m.assignment.clone(),
                            });
                        }
                    }
                }
                Reply::Later(rx)
            }
            GroupState::Empty | GroupState::Dead => Reply::Now(SyncResult::error(ErrorCode::UnknownMemberId)),
        }
    }

    pub fn heartbeat(&mut self, who: &Identity<'_>, generation_id: i32, now_ms: i64) -> ErrorCode {
        if self.state == GroupState::Empty {
            return ErrorCode::UnknownMemberId;
        }
        if let Err(code) = self.check_member(who, generation_id) {
            return code;
        }
        self.members.get_mut(who.member_id).expect("checked").last_heartbeat_ms = now_ms;
        match self.state {
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            _ => ErrorCode::None,
        }
    }

    /// LeaveGroup for one member; returns that member's error code.
    pub fn leave(&mut self, who: &Identity<'_>, now_ms: i64, cfg: &GroupConfig) -> ErrorCode {
        if self.state == GroupState::Dead {
            return ErrorCode::CoordinatorNotAvailable;
        }
        let member_id = match who.instance_id {
            Some(instance) => match self.static_members.get(instance) {
                Some(owner) if who.member_id.is_empty() || owner == who.member_id => owner.clone(),
                Some(_) => return ErrorCode::FencedInstanceId,
                None => return ErrorCode::UnknownMemberId,
            },
            None => who.member_id.to_string(),
        };
        if self.pending_members.remove(&member_id).is_some() {
            self.maybe_complete_join(now_ms);
            return ErrorCode::None;
        }
        if !self.members.contains_key(&member_id) {
            return ErrorCode::UnknownMemberId;
        }
        self.remove_member(&member_id, now_ms, cfg);
        ErrorCode::None
    }

    fn remove_member_entry(&mut self, member_id: &str) {
        if let Some(m) = self.members.shift_remove(member_id) {
            if let Some(instance) = &m.instance_id {
                if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(instance);
                }
            }
            if let Some(w) = m.join_waiter {
                let _ = w.send(JoinResult::error(ErrorCode::UnknownMemberId, member_id));
            }
            if let Some(w) = m.sync_waiter {
                let _ = w.send(SyncResult::error(ErrorCode::UnknownMemberId));
            }
        }
    }

    /// Removes a member (left or expired) and rebalances the rest.
    fn remove_member(&mut self, member_id: &str, now_ms: i64, cfg: &GroupConfig) {
        tracing::info!(group = %self.id, member = %member_id, "member removed");
        self.remove_member_entry(member_id);
        if self.leader_id.as_deref() == Some(member_id) {
            self.leader_id = None;
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(now_ms, cfg),
            _ => {}
        }
        self.maybe_complete_join(now_ms);
    }

    /// Expires sessions and pending member ids, and completes a rebalance
    /// whose timeout has passed.
    pub fn tick(&mut self, now_ms: i64, cfg: &GroupConfig) {
        self.pending_members.retain(|_, deadline| *deadline > now_ms);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.is_awaiting_join() && now_ms > m.last_heartbeat_ms + i64::from(m.session_timeout_ms))
            .map(|m| m.member_id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "member session expired");
            self.remove_member(&id, now_ms, cfg);
        }
        self.maybe_complete_join(now_ms);
    }

    /// Marks the group deleted.
    pub fn kill(&mut self) {
        self.transition(GroupState::Dead);
    }

    /// Topics the members' consumer-protocol subscriptions name.
    pub fn subscribed_topics(&self) -> Option<std::collections::HashSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") || self.members.is_empty() {
            return None;
        }
        let protocol = self.protocol_name.clone()?;
        let mut topics = std::collections::HashSet::new();
        for m in self.members.values() {
            topics.extend(super::consumer_protocol::subscription_topics(&m.metadata_for(&protocol))?);
        }
        Some(topics)
    }
}
