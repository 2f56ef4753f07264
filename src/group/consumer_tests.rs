//! KIP-848 reconciliation tests: joins, revocation before reassignment,
//! fencing, leaving, expiry.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::consumer::*;
use crate::protocol::ErrorCode;

const TOPIC: Uuid = Uuid::from_u128(0xabc);

fn topics(name: &str) -> Option<TopicInfo> {
    (name == "orders").then_some(TopicInfo { id: TOPIC, partitions: 6 })
}

fn req(member_id: &str, epoch: i32, owned: Option<&[i32]>) -> HeartbeatRequest {
    HeartbeatRequest {
        member_id: member_id.into(),
        member_epoch: epoch,
        instance_id: None,
        rack_id: None,
        rebalance_timeout_ms: if epoch == 0 { 30_000 } else { -1 },
        subscribed_topics: (epoch == 0).then(|| vec!["orders".to_string()]),
        server_assignor: None,
        owned: owned.map(|ps| [(TOPIC, ps.iter().copied().collect::<BTreeSet<i32>>())].into_iter().collect()),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
    }
}

fn parts(r: &HeartbeatResult) -> Vec<i32> {
    r.assignment.as_ref().expect("an assignment").get(&TOPIC).map(|s| s.iter().copied().collect()).unwrap_or_default()
}

fn hb(g: &mut ConsumerGroup, r: HeartbeatRequest, now: i64) -> HeartbeatResult {
    g.heartbeat(r, now, &ConsumerGroupConfig::default(), &topics)
}

#[test]
fn partitions_move_only_after_their_owner_revokes_them() {
    let mut g = ConsumerGroup::new("g");
    let a = hb(&mut g, req("a", 0, None), 0);
    assert_eq!((a.error, a.member_epoch), (ErrorCode::None, 1));
    assert_eq!(parts(&a), vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(g.state(), ConsumerGroupState::Stable);

    let b = hb(&mut g, req("b", 0, None), 10);
    assert_eq!(b.member_epoch, 2);
    assert_eq!(parts(&b), Vec::<i32>::new(), "b's partitions are still owned by a");
    assert_eq!(g.state(), ConsumerGroupState::Reconciling);

    // a is told to keep three and give up three; it stays at epoch 1.
    let a = hb(&mut g, req("a", 1, Some(&[0, 1, 2, 3, 4, 5])), 20);
    assert_eq!(a.member_epoch, 1);
    let kept = parts(&a);
    assert_eq!(kept.len(), 3);
    // a confirms the revocation by reporting only what it kept.
    let a = hb(&mut g, req("a", 1, Some(&kept)), 30);
    assert_eq!(a.member_epoch, 2);
    let b = hb(&mut g, req("b", 2, Some(&[])), 40);
    let got = parts(&b);
    assert_eq!(got.len(), 3);
    let all: BTreeSet<i32> = kept.iter().chain(got.iter()).copied().collect();
    assert_eq!(all, (0..6).collect(), "disjoint and complete");
    assert_eq!(g.state(), ConsumerGroupState::Stable);
    // A heartbeat with nothing new carries no assignment.
    assert!(hb(&mut g, req("b", 2, None), 50).assignment.is_none());
}

#[test]
fn fencing_unknown_members_and_leaving() {
    let mut g = ConsumerGroup::new("g");
    hb(&mut g, req("a", 0, None), 0);
    hb(&mut g, req("b", 0, None), 0);
    assert_eq!(hb(&mut g, req("a", 9, None), 1).error, ErrorCode::FencedMemberEpoch);
    assert_eq!(hb(&mut g, req("zz", 1, None), 1).error, ErrorCode::UnknownMemberId);
    let mut bad = req("c", 0, None);
    bad.subscribed_topics = None;
    assert_eq!(hb(&mut g, bad, 1).error, ErrorCode::InvalidRequest);
    let mut assignor = req("c", 0, None);
    assignor.server_assignor = Some("magic".into());
    assert_eq!(hb(&mut g, assignor, 1).error, ErrorCode::UnsupportedAssignor);

    let left = hb(&mut g, req("b", -1, None), 2);
    assert_eq!((left.error, left.member_epoch), (ErrorCode::None, -1));
    assert!(!g.members.contains_key("b"));
    // a ends up with every partition once it reconciles.
    let mut a = hb(&mut g, req("a", 1, None), 3);
    for t in 4..8 {
        if a.assignment.as_ref().is_some_and(|x| x.get(&TOPIC).map_or(0, |s| s.len()) == 6) {
            break;
        }
        let owned = a.assignment.as_ref().map(|x| x.get(&TOPIC).cloned().unwrap_or_default());
        let owned: Option<Vec<i32>> = owned.map(|s| s.into_iter().collect());
        a = hb(&mut g, req("a", a.member_epoch, owned.as_deref()), t);
    }
    assert_eq!(parts(&a), vec![0, 1, 2, 3, 4, 5]);
}

#[test]
fn silent_members_expire_and_commits_check_the_epoch() {
    let mut g = ConsumerGroup::new("g");
    let a = hb(&mut g, req("a", 0, None), 0);
    assert_eq!(g.check_commit("a", a.member_epoch), Ok(()));
    assert_eq!(g.check_commit("a", a.member_epoch + 5), Err(ErrorCode::StaleMemberEpoch));
    assert_eq!(g.check_commit("nobody", 1), Err(ErrorCode::UnknownMemberId));
    assert_eq!(g.check_commit("", -1), Err(ErrorCode::UnknownMemberId), "simple commits only for empty groups");
    g.tick(45_000, &ConsumerGroupConfig::default());
    assert!(g.members.contains_key("a"));
    g.tick(45_001, &ConsumerGroupConfig::default());
    assert!(g.members.is_empty());
    assert_eq!(g.state(), ConsumerGroupState::Empty);
    assert_eq!(g.check_commit("", -1), Ok(()));
}
