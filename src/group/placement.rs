//! Where a group's (or transactional id's) coordinator lives: a stable hash
//! of the key over the live brokers, so every broker computes the same
//! answer from the same broker list. One broker runs today; the function is
//! already the one several brokers will use.

/// FNV-1a, 32-bit: stable across processes, versions and platforms (unlike
/// std's randomly seeded hasher).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// The coordinator node for `key` among `live_nodes` (any order).
pub fn coordinator_node(key: &str, live_nodes: &[i32]) -> Option<i32> {
    let mut nodes = live_nodes.to_vec();
    nodes.sort_unstable();
    nodes.dedup();
    if nodes.is_empty() {
        return None;
    }
    Some(nodes[fnv1a(key.as_bytes()) as usize % nodes.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_order_independent() {
        assert_eq!(coordinator_node("g", &[1]), Some(1));
        assert_eq!(coordinator_node("g", &[]), None);
        let a = coordinator_node("orders-app", &[3, 1, 2]);
        assert_eq!(a, coordinator_node("orders-app", &[1, 2, 3]));
        assert_eq!(a, coordinator_node("orders-app", &[2, 2, 3, 1]));
        // Keys spread over brokers.
        let owners: std::collections::HashSet<i32> =
            (0..100).filter_map(|i| coordinator_node(&format!("g{i}"), &[1, 2, 3])).collect();
        assert_eq!(owners.len(), 3);
    }
}
