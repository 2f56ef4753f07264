//! Who leads a partition and who coordinates a group or transactional id:
//! stable hashes over the live brokers, so every broker computes the same
//! answer from the same broker list, with no election and no extra state.

/// FNV-1a, 32-bit: stable across processes, versions and platforms (unlike
/// std's randomly seeded hasher).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

fn sorted(live_nodes: &[i32]) -> Vec<i32> {
    let mut nodes = live_nodes.to_vec();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// MurmurHash3's 32-bit finaliser: spreads FNV's output over all bits.
fn mix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The coordinator node for `key` among `live_nodes` (any order), by
/// rendezvous hashing: each node scores the key and the highest score wins.
/// When a broker leaves, only the keys it coordinated move; the groups of
/// the survivors stay where they are.
pub fn coordinator_node(key: &str, live_nodes: &[i32]) -> Option<i32> {
    let key_hash = fnv1a(key.as_bytes());
    sorted(live_nodes).into_iter().max_by_key(|node| {
        let seeded = node.to_le_bytes().iter().fold(key_hash, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193));
        (mix(seeded), *node)
    })
}

/// The leader of a partition among `live_nodes`: the topic's hash picks a
/// starting broker and consecutive partitions go round the others, so the
/// partitions of one topic spread evenly.
pub fn partition_leader(topic: &str, partition: i32, live_nodes: &[i32]) -> Option<i32> {
    let nodes = sorted(live_nodes);
    if nodes.is_empty() {
        return None;
    }
    let start = u64::from(fnv1a(topic.as_bytes()));
    let slot = (start + u64::from(partition.max(0) as u32)) % nodes.len() as u64;
    Some(nodes[slot as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinators_are_stable_and_order_independent() {
        assert_eq!(coordinator_node("g", &[1]), Some(1));
        assert_eq!(coordinator_node("g", &[]), None);
        let a = coordinator_node("orders-app", &[3, 1, 2]);
        assert_eq!(a, coordinator_node("orders-app", &[1, 2, 3]));
        assert_eq!(a, coordinator_node("orders-app", &[2, 2, 3, 1]));
        // Keys spread over brokers.
        let owners: std::collections::HashSet<i32> =
            (0..100).filter_map(|i| coordinator_node(&format!("g{i}"), &[1, 2, 3])).collect();
        assert_eq!(owners.len(), 3);
        // A broker leaving moves only its own keys.
        for i in 0..200 {
            let key = format!("group-{i}");
            let before = coordinator_node(&key, &[1, 2, 3]).unwrap();
            let after = coordinator_node(&key, &[1, 3]).unwrap();
            if before != 2 {
                assert_eq!(before, after, "{key} moved although its broker stayed");
            }
        }
        let moved_share = (0..300).filter(|i| coordinator_node(&format!("k{i}"), &[1, 2, 3]) == Some(2)).count();
        assert!((60..=140).contains(&moved_share), "about a third of the keys per broker: {moved_share}");
        // Pinned values: every broker version must compute the same owner.
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
    }

    #[test]
    fn leaders_spread_evenly_and_agree() {
        let live = [7, 3, 5];
        let leaders: Vec<i32> = (0..12).map(|p| partition_leader("orders", p, &live).unwrap()).collect();
        for node in live {
            assert_eq!(leaders.iter().filter(|l| **l == node).count(), 4, "{leaders:?}");
        }
        // Consecutive partitions never share a leader with three brokers.
        assert!(leaders.windows(2).all(|w| w[0] != w[1]));
        assert_eq!(leaders, (0..12).map(|p| partition_leader("orders", p, &[3, 5, 7]).unwrap()).collect::<Vec<_>>());
        assert_eq!(partition_leader("orders", 0, &[]), None);
        assert_eq!(partition_leader("orders", 5, &[4]), Some(4));
    }
}
