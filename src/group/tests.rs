//! State-machine tests with a manual clock: every transition and timeout.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::machine::*;
use super::state::GroupState;
use super::{GroupCoordinator, GroupError};
use crate::clock::ManualClock;
use crate::metadata::sqlite::SqliteStore;
use crate::metadata::{CommittedOffset, MetadataStore};
use crate::protocol::ErrorCode;

/// The code a client would see.
fn code<T>(r: Result<T, GroupError>) -> Result<T, ErrorCode> {
    r.map_err(|e| ErrorCode::from(&e))
}

/// The code a client would see for a request answered with a code only.
fn done(r: Result<(), GroupError>) -> ErrorCode {
    r.err().map_or(ErrorCode::None, |e| ErrorCode::from(&e))
}

fn cfg() -> GroupConfig {
    GroupConfig { initial_rebalance_delay_ms: 100, ..GroupConfig::default() }
}

fn join_req(member_id: &str, instance: Option<&str>, protocols: &[&str]) -> JoinRequest {
    JoinRequest {
        member_id: member_id.into(),
        instance_id: instance.map(String::from),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: protocols.iter().map(|p| (p.to_string(), Bytes::from(format!("meta-{p}")))).collect(),
        require_known_member_id: true,
        supports_skip_assignment: true,
    }
}

fn now<T>(r: Reply<T>) -> T {
    match r {
        Reply::Now(t) => t,
        Reply::Later(_) => panic!("expected an immediate answer"),
    }
}

fn later<T>(r: Reply<T>) -> oneshot::Receiver<T> {
    match r {
        Reply::Later(rx) => rx,
        Reply::Now(_) => panic!("expected a delayed answer"),
    }
}

fn ready<T: std::fmt::Debug>(rx: &mut oneshot::Receiver<T>) -> T {
    rx.try_recv().expect("answer delivered")
}

fn id<'a>(member_id: &'a str) -> Identity<'a> {
    Identity { member_id, instance_id: None }
}

/// Two-step joins a member and returns its id and pending join.
fn join_new(g: &mut Group, t: i64) -> (String, oneshot::Receiver<JoinResult>) {
    let first = now(g.join(join_req("", None, &["range"]), t, &cfg()));
    assert_eq!(first.error, ErrorCode::MemberIdRequired);
    assert!(first.member_id.starts_with("client-"));
    let rx = later(g.join(join_req(&first.member_id, None, &["range"]), t, &cfg()));
    (first.member_id, rx)
}

/// A Stable group of `n` members at generation 1; returns their ids
/// (leader first).
fn stable_group(n: usize) -> (Group, Vec<String>) {
    let mut g = Group::new("g", None);
    let mut joins: Vec<(String, oneshot::Receiver<JoinResult>)> = (0..n).map(|_| join_new(&mut g, 0)).collect();
    assert_eq!(g.state, GroupState::PreparingRebalance);
    g.tick(99, &cfg());
    assert_eq!(g.state, GroupState::PreparingRebalance, "the initial delay holds the first join");
    g.tick(100, &cfg());
    assert_eq!(g.state, GroupState::CompletingRebalance);
    let results: Vec<JoinResult> = joins.iter_mut().map(|(_, rx)| ready(rx)).collect();
    let leader = results[0].leader.clone();
    assert_eq!(leader, joins[0].0);
    for r in &results {
        assert_eq!((r.error, r.generation_id, r.protocol_name.as_deref()), (ErrorCode::None, 1, Some("range")));
        assert_eq!(r.members.len(), if r.member_id == leader { n } else { 0 });
    }
    let ids: Vec<String> = joins.iter().map(|(id, _)| id.clone()).collect();
    let assignments: Vec<(String, Bytes)> = ids.iter().map(|m| (m.clone(), Bytes::from(format!("a-{m}")))).collect();
    let mut followers: Vec<_> = ids[1..]
        .iter()
        .map(|m| {
            later(g.sync(
                SyncRequest {
                    member_id: m.clone(),
                    instance_id: None,
                    generation_id: 1,
                    protocol_type: None,
                    protocol_name: None,
                    assignments: vec![],
                },
                10,
            ))
        })
        .collect();
    let mut lead = later(g.sync(
        SyncRequest {
            member_id: leader.clone(),
            instance_id: None,
            generation_id: 1,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments,
        },
        10,
    ));
    assert_eq!(g.state, GroupState::Stable);
    assert_eq!(ready(&mut lead).assignment, Bytes::from(format!("a-{leader}")));
    for (m, rx) in ids[1..].iter().zip(followers.iter_mut()) {
        let r = ready(rx);
        assert_eq!((r.error, r.assignment), (ErrorCode::None, Bytes::from(format!("a-{m}"))));
    }
    (g, ids)
}

#[test]
fn join_sync_and_heartbeat_reach_stable() {
    let (mut g, ids) = stable_group(3);
    assert_eq!(g.heartbeat(&id(&ids[1]), 1, 20), ErrorCode::None);
    assert_eq!(g.heartbeat(&id(&ids[1]), 0, 20), ErrorCode::IllegalGeneration);
    assert_eq!(g.heartbeat(&id("nobody"), 1, 20), ErrorCode::UnknownMemberId);
    // A Stable group answers SyncGroup with the stored assignment.
    let again = now(g.sync(
        SyncRequest {
            member_id: ids[2].clone(),
            instance_id: None,
            generation_id: 1,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![],
        },
        30,
    ));
    assert_eq!(again.assignment, Bytes::from(format!("a-{}", ids[2])));
}

#[test]
fn a_member_that_stops_heartbeating_is_expired_and_the_rest_rebalance() {
    let (mut g, ids) = stable_group(3);
    for t in [3_000, 6_000, 9_000] {
        assert_eq!(g.heartbeat(&id(&ids[0]), 1, t), ErrorCode::None);
        assert_eq!(g.heartbeat(&id(&ids[1]), 1, t), ErrorCode::None);
    }
    g.tick(10_010, &cfg()); // ids[2] last heard at 10 ms: exactly at its 10 s timeout
    assert_eq!(g.state, GroupState::Stable);
    g.tick(10_011, &cfg());
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert!(!g.members.contains_key(&ids[2]));
    assert_eq!(g.heartbeat(&id(&ids[1]), 1, 10_020), ErrorCode::RebalanceInProgress);
    let mut a = later(g.join(join_req(&ids[0], None, &["range"]), 10_030, &cfg()));
    assert_eq!(g.state, GroupState::PreparingRebalance);
    let mut b = later(g.join(join_req(&ids[1], None, &["range"]), 10_040, &cfg()));
    assert_eq!(g.state, GroupState::CompletingRebalance, "all remaining members rejoined");
    let (ra, rb) = (ready(&mut a), ready(&mut b));
    assert_eq!((ra.generation_id, rb.generation_id), (2, 2));
    assert_eq!(ra.leader, ids[0]);
    assert_eq!(ra.members.len(), 2);
}

#[test]
fn a_member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() {
    let (mut g, ids) = stable_group(2);
    let mut a = later(g.join(join_req(&ids[0], None, &["range", "roundrobin"]), 1_000, &cfg()));
    assert_eq!(g.state, GroupState::PreparingRebalance);
    // ids[1] keeps its session alive but never rejoins.
    for t in [9_000, 18_000, 27_000] {
        assert_eq!(g.heartbeat(&id(&ids[1]), 1, t), ErrorCode::RebalanceInProgress);
    }
    g.tick(30_999, &cfg());
    assert_eq!(g.state, GroupState::PreparingRebalance);
    g.tick(31_000, &cfg());
    assert_eq!(g.state, GroupState::CompletingRebalance);
    let r = ready(&mut a);
    assert_eq!((r.generation_id, r.members.len()), (2, 1));
    assert!(!g.members.contains_key(&ids[1]));
}

#[test]
fn leaving_rebalances_and_the_last_member_leaving_empties_the_group() {
    let (mut g, ids) = stable_group(2);
    assert_eq!(g.leave(&id(&ids[1]), 100, &cfg()), ErrorCode::None);
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(g.leave(&id(&ids[1]), 100, &cfg()), ErrorCode::UnknownMemberId);
    assert_eq!(g.leave(&id(&ids[0]), 110, &cfg()), ErrorCode::None);
    assert_eq!(g.state, GroupState::Empty);
    assert_eq!(g.generation_id, 2);
}

#[test]
fn sync_errors_follow_kafka() {
    let mut g = Group::new("g", None);
    let (m, _rx) = join_new(&mut g, 0);
    let sync = |member: &str, generation| SyncRequest {
        member_id: member.into(),
        instance_id: None,
        generation_id: generation,
        protocol_type: None,
        protocol_name: None,
        assignments: vec![],
    };
    assert_eq!(now(g.sync(sync(&m, 0), 1)).error, ErrorCode::RebalanceInProgress);
    assert_eq!(now(g.sync(sync("ghost", 0), 1)).error, ErrorCode::UnknownMemberId);
    g.tick(100, &cfg());
    assert_eq!(now(g.sync(sync(&m, 7), 101)).error, ErrorCode::IllegalGeneration);
    let wrong = SyncRequest { protocol_name: Some("roundrobin".into()), ..sync(&m, 1) };
    assert_eq!(now(g.sync(wrong, 101)).error, ErrorCode::InconsistentGroupProtocol);
}

#[test]
fn joins_that_cannot_be_accepted() {
    let mut g = Group::new("g", None);
    let short = JoinRequest { session_timeout_ms: 10, ..join_req("", None, &["range"]) };
    assert_eq!(now(g.join(short, 0, &cfg())).error, ErrorCode::InvalidSessionTimeout);
    let (_m, _rx) = join_new(&mut g, 0);
    let other_type = JoinRequest { protocol_type: "connect".into(), ..join_req("", None, &["range"]) };
    assert_eq!(now(g.join(other_type, 0, &cfg())).error, ErrorCode::InconsistentGroupProtocol);
    assert_eq!(now(g.join(join_req("", None, &["sticky"]), 0, &cfg())).error, ErrorCode::InconsistentGroupProtocol);
    assert_eq!(now(g.join(join_req("made-up", None, &["range"]), 0, &cfg())).error, ErrorCode::UnknownMemberId);
}

#[test]
fn the_protocol_with_most_first_choices_among_common_ones_wins() {
    let mut g = Group::new("g", None);
    let mut rxs = Vec::new();
    for protos in [&["range", "roundrobin"][..], &["roundrobin", "range"], &["roundrobin"]] {
        let first = now(g.join(join_req("", None, protos), 0, &cfg()));
        rxs.push(later(g.join(join_req(&first.member_id, None, protos), 0, &cfg())));
    }
    g.tick(100, &cfg());
    assert_eq!(ready(&mut rxs[0]).protocol_name.as_deref(), Some("roundrobin"));
}

#[test]
fn a_restarted_static_member_takes_its_place_without_a_rebalance() {
    let mut g = Group::new("g", None);
    let r = g.join(join_req("", Some("i-a"), &["range"]), 0, &cfg());
    if let Reply::Now(x) = &r {
        panic!("{x:?}");
    }
    let mut a = later(r);
    let mut b = later(g.join(join_req("", Some("i-b"), &["range"]), 0, &cfg()));
    g.tick(100, &cfg());
    let (ra, rb) = (ready(&mut a), ready(&mut b));
    let leader = ra.leader.clone();
    let follower = if rb.member_id == leader { ra.member_id.clone() } else { rb.member_id.clone() };
    let follower_instance = if follower == rb.member_id { "i-b" } else { "i-a" };
    // Followers first: the leader's SyncGroup completes the rebalance.
    let mut rxs: Vec<_> = [&follower, &leader]
        .iter()
        .map(|m| {
            let assignments = if **m == leader {
                vec![(ra.member_id.clone(), Bytes::from_static(b"A")), (rb.member_id.clone(), Bytes::from_static(b"B"))]
            } else {
                vec![]
            };
            later(g.sync(
                SyncRequest {
                    member_id: (*m).clone(),
                    instance_id: None,
                    generation_id: 1,
                    protocol_type: None,
                    protocol_name: None,
                    assignments,
                },
                10,
            ))
        })
        .collect();
    for rx in &mut rxs {
        assert_eq!(ready(rx).error, ErrorCode::None);
    }
    assert_eq!(g.state, GroupState::Stable);
    let rebalances = g.rebalances;

    // The follower restarts: new process, empty member id, same instance id.
    let back = now(g.join(join_req("", Some(follower_instance), &["range"]), 500, &cfg()));
    assert_eq!((back.error, back.generation_id), (ErrorCode::None, 1));
    assert_ne!(back.member_id, follower);
    assert_eq!(g.state, GroupState::Stable);
    assert_eq!(g.rebalances, rebalances, "no rebalance for the other member");
    let sync = now(g.sync(
        SyncRequest {
            member_id: back.member_id.clone(),
            instance_id: Some(follower_instance.into()),
            generation_id: 1,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![],
        },
        510,
    ));
    let expected = if follower == ra.member_id { "A" } else { "B" };
    assert_eq!(sync.assignment, Bytes::from(expected));
    // The old incarnation is fenced.
    let old = Identity { member_id: &follower, instance_id: Some(follower_instance) };
    assert_eq!(g.heartbeat(&old, 1, 520), ErrorCode::FencedInstanceId);
    assert_eq!(g.leave(&old, 520, &cfg()), ErrorCode::FencedInstanceId);

    // Regression: the leader restarts with changed metadata bytes (a sticky
    // assignor's owned partitions) and JoinGroup v5. Same selected protocol:
    // no rebalance, and it is answered as a follower with the old leader id.
    let leader_instance = if follower_instance == "i-a" { "i-b" } else { "i-a" };
    let mut v5 = join_req("", Some(leader_instance), &["range"]);
    v5.protocols = vec![("range".into(), Bytes::from_static(b"owned: 0,1"))];
    v5.supports_skip_assignment = false;
    let back = now(g.join(v5, 600, &cfg()));
    assert_eq!((back.error, back.generation_id, g.rebalances), (ErrorCode::None, 1, rebalances));
    assert_eq!(back.leader, leader, "the old leader id: the client acts as a follower");
    assert!(back.members.is_empty() && !back.skip_assignment);
    // With v9 the returning leader is told it leads and to skip assignment.
    let back9 = now(g.join(join_req("", Some(leader_instance), &["range"]), 700, &cfg()));
    assert_eq!(
        (back9.leader.as_str(), back9.skip_assignment, back9.members.len()),
        (back9.member_id.as_str(), true, 2)
    );
    assert_eq!(g.state, GroupState::Stable);
}

async fn coordinator() -> (tempfile::TempDir, Arc<ManualClock>, GroupCoordinator, Arc<dyn MetadataStore>) {
    let dir = tempfile::tempdir().unwrap();
    let meta: Arc<dyn MetadataStore> = Arc::new(SqliteStore::open(&dir.path().join("m.sqlite")).unwrap());
    let clock = Arc::new(ManualClock::new(1_000));
    let membership = Arc::new(crate::cluster::Membership::standalone(clock.clone(), 1));
    let c = GroupCoordinator::load(meta.clone(), clock.clone(), cfg(), membership).await.unwrap();
    (dir, clock, c, meta)
}

fn offset(topic: &str, partition: i32, offset: i64) -> CommittedOffset {
    CommittedOffset {
        topic: topic.into(),
        partition,
        offset,
        leader_epoch: -1,
        metadata: Some("m".into()),
        commit_ms: 1,
    }
}

#[tokio::test]
async fn commits_are_checked_against_the_group_and_survive_a_restart() {
    let (dir, _clock, c, meta) = coordinator().await;
    // Simple commit (assign()-style consumer): generation -1, no member.
    c.commit_offsets("simple", &id(""), -1, vec![offset("t", 0, 42)]).await.unwrap();
    assert_eq!(c.fetch_offsets("simple").await.unwrap(), vec![offset("t", 0, 42)]);
    assert_eq!(
        code(c.commit_offsets("simple", &id("ghost"), 3, vec![offset("t", 0, 1)]).await),
        Err(ErrorCode::UnknownMemberId)
    );
    assert_eq!(code(c.commit_offsets("", &id(""), -1, vec![]).await), Err(ErrorCode::InvalidGroupId));

    let first = c.join("live", join_req("", None, &["range"])).await;
    let pending = c.join("live", join_req(&first.member_id, None, &["range"]));
    let (joined, _) = tokio::join!(pending, async {
        tokio::task::yield_now().await;
        _clock.advance_ms(100);
        c.tick();
    });
    assert_eq!(joined.generation_id, 1);
    let m = joined.member_id.clone();
    assert_eq!(
        code(c.commit_offsets("live", &id(&m), 1, vec![offset("t", 1, 7)]).await),
        Err(ErrorCode::RebalanceInProgress)
    );
    let sync = c
        .sync(
            "live",
            SyncRequest {
                member_id: m.clone(),
                instance_id: None,
                generation_id: 1,
                protocol_type: None,
                protocol_name: None,
                assignments: vec![(m.clone(), Bytes::from_static(b"x"))],
            },
        )
        .await;
    assert_eq!(sync.assignment, Bytes::from_static(b"x"));
    assert_eq!(
        code(c.commit_offsets("live", &id(&m), 0, vec![offset("t", 1, 7)]).await),
        Err(ErrorCode::IllegalGeneration)
    );
    c.commit_offsets("live", &id(&m), 1, vec![offset("t", 1, 7)]).await.unwrap();
    assert_eq!(done(c.delete_group("live").await), ErrorCode::NonEmptyGroup);
    let described = c.describe("live").unwrap().unwrap();
    assert_eq!(
        (described.state, described.protocol_name.as_str(), described.members.len()),
        (GroupState::Stable, "range", 1)
    );
    assert_eq!(described.members[0].assignment, Bytes::from_static(b"x"));

    // Restart: groups with offsets come back Empty with their offsets.
    drop(c);
    let clock = Arc::new(ManualClock::new(5_000));
    let membership = Arc::new(crate::cluster::Membership::standalone(clock.clone(), 1));
    let c = GroupCoordinator::load(meta.clone(), clock, cfg(), membership).await.unwrap();
    let listed: Vec<(String, String, &str)> =
        c.list().into_iter().map(|g| (g.group_id, g.protocol_type, g.state)).collect();
    assert_eq!(listed, vec![("live".into(), "consumer".into(), "Empty"), ("simple".into(), String::new(), "Empty")]);
    assert_eq!(c.fetch_offsets("live").await.unwrap(), vec![offset("t", 1, 7)]);
    assert_eq!(done(c.delete_group("live").await), ErrorCode::None);
    assert!(c.fetch_offsets("live").await.unwrap().is_empty());
    assert_eq!(done(c.delete_group("live").await), ErrorCode::GroupIdNotFound);
    drop(dir);
}

#[test]
fn a_member_id_handed_out_but_never_used_stops_blocking_after_a_session_timeout() {
    let (mut g, ids) = stable_group(1);
    // A new consumer gets MEMBER_ID_REQUIRED, then crashes.
    let ghost = now(g.join(join_req("", None, &["range"]), 1_000, &cfg()));
    assert_eq!(ghost.error, ErrorCode::MemberIdRequired);
    // The existing member rejoins (its metadata changed): the rebalance
    // waits for the pending id...
    let mut a = later(g.join(join_req(&ids[0], None, &["range", "roundrobin"]), 1_000, &cfg()));
    g.tick(5_000, &cfg());
    assert_eq!(g.state, GroupState::PreparingRebalance);
    // ...only until that id's session timeout (10 s), not the rebalance timeout.
    g.tick(11_001, &cfg());
    assert_eq!(g.state, GroupState::CompletingRebalance);
    let r = ready(&mut a);
    assert_eq!((r.generation_id, r.members.len()), (2, 1));
}

#[tokio::test]
async fn consumer_protocol_groups_are_listed_deleted_and_refuse_classic_members() {
    let (_dir, _clock, c, _meta) = coordinator().await;
    let topics = |name: &str| {
        (name == "t").then_some(super::consumer::TopicInfo { id: uuid::Uuid::from_u128(1), partitions: 2 })
    };
    let hb = super::consumer::HeartbeatRequest {
        member_id: "m1".into(),
        member_epoch: 0,
        instance_id: None,
        rack_id: None,
        rebalance_timeout_ms: 1000,
        subscribed_topics: Some(vec!["t".into()]),
        server_assignor: None,
        owned: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
    };
    let r = c.consumer_heartbeat("cg", hb.clone(), &topics);
    assert_eq!((r.error, r.member_epoch), (ErrorCode::None, 1));
    let listed: Vec<(String, &str, &str)> = c.list().into_iter().map(|g| (g.group_id, g.state, g.group_type)).collect();
    assert_eq!(listed, vec![("cg".to_string(), "Stable", "consumer")]);
    assert_eq!(c.join("cg", join_req("", None, &["range"])).await.error, ErrorCode::InconsistentGroupProtocol);
    assert_eq!(c.describe("cg"), Err(ErrorCode::GroupIdNotFound), "not a classic group");
    assert_eq!(done(c.delete_group("cg").await), ErrorCode::NonEmptyGroup);
    let codes = c.delete_offsets("cg", &[("t".into(), 0), ("other".into(), 0)]).await.unwrap();
    assert_eq!(codes, vec![ErrorCode::GroupSubscribedToTopic, ErrorCode::None]);
    let leave = super::consumer::HeartbeatRequest { member_epoch: -1, subscribed_topics: None, ..hb };
    assert_eq!(c.consumer_heartbeat("cg", leave, &topics).error, ErrorCode::None);
    assert_eq!(done(c.delete_group("cg").await), ErrorCode::None, "an empty consumer group without offsets");
    assert_eq!(done(c.delete_group("cg").await), ErrorCode::GroupIdNotFound);
}

/// Two brokers on one store: each coordinates its share of the groups;
/// when one stops heartbeating the survivor takes its groups over (Empty,
/// with their committed offsets), and the lapsed one releases them.
#[tokio::test]
async fn groups_move_to_the_surviving_broker() {
    use crate::cluster::{Membership, MembershipConfig};
    let dir = tempfile::tempdir().unwrap();
    let meta: Arc<dyn MetadataStore> = Arc::new(SqliteStore::open(&dir.path().join("m.sqlite")).unwrap());
    let clock = Arc::new(ManualClock::new(1_000));
    let member_cfg = |node_id| MembershipConfig {
        node_id,
        host: "127.0.0.1".into(),
        port: 9000 + node_id,
        heartbeat_interval_ms: 100,
        session_timeout_ms: 1_000,
    };
    let m1 = Arc::new(Membership::register(meta.as_ref(), clock.clone(), member_cfg(1)).await.unwrap());
    let m2 = Arc::new(Membership::register(meta.as_ref(), clock.clone(), member_cfg(2)).await.unwrap());
    m1.heartbeat(meta.as_ref()).await;
    let c1 = GroupCoordinator::load(meta.clone(), clock.clone(), cfg(), m1.clone()).await.unwrap();
    let c2 = GroupCoordinator::load(meta.clone(), clock.clone(), cfg(), m2.clone()).await.unwrap();
    let ids: Vec<String> = (0..12).map(|i| format!("g{i}")).collect();
    let on2: Vec<&String> = ids.iter().filter(|g| m2.owns(g)).collect();
    assert!(!on2.is_empty() && on2.len() < ids.len(), "groups spread over both brokers");
    let simple = Identity { member_id: "", instance_id: None };
    for g in &ids {
        let (right, wrong) = if m1.owns(g) { (&c1, &c2) } else { (&c2, &c1) };
        let offsets = vec![CommittedOffset {
            topic: "t".into(),
            partition: 0,
            offset: 42,
            leader_epoch: -1,
            metadata: None,
            commit_ms: 1,
        }];
        assert_eq!(code(wrong.commit_offsets(g, &simple, -1, offsets.clone()).await), Err(ErrorCode::NotCoordinator));
        right.commit_offsets(g, &simple, -1, offsets).await.unwrap();
    }
    assert_eq!(c2.list().len(), on2.len());

    // Broker 2 stops heartbeating; broker 1 goes on.
    clock.advance_ms(600);
    m1.heartbeat(meta.as_ref()).await;
    clock.advance_ms(600);
    m1.heartbeat(meta.as_ref()).await;
    assert_eq!(m1.brokers().len(), 1);
    let adopted = c1.adopt_owned_groups().await.unwrap();
    assert_eq!(adopted, on2.len());
    let listed: Vec<String> = c1.list().into_iter().map(|g| g.group_id).collect();
    let mut all = ids.clone();
    all.sort();
    assert_eq!(listed, all);
    for g in &on2 {
        let fetched = c1.fetch_offsets(g).await.unwrap();
        assert_eq!(fetched.iter().map(|o| o.offset).collect::<Vec<_>>(), vec![42]);
    }
    // The lapsed broker releases everything on its next tick.
    c2.tick();
    assert!(c2.list().is_empty());
    assert_eq!(code(c2.fetch_offsets(on2[0]).await), Err(ErrorCode::NotCoordinator));
}
