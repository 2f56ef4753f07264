//! Group states and the legal moves between them (Kafka's classic group
//! protocol). Every transition goes through [`GroupState::check_transition`].

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members; may hold committed offsets.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment in SyncGroup.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Deleted; no further transitions.
    Dead,
}

impl GroupState {
    /// The name Kafka uses in DescribeGroups and ListGroups.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Empty, Self::PreparingRebalance, Self::CompletingRebalance, Self::Stable, Self::Dead]
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// Whether `self -> next` is a move the protocol allows.
    pub fn can_move_to(self, next: GroupState) -> bool {
        use GroupState::*;
        matches!(
            (self, next),
            (Empty, PreparingRebalance)
                | (Empty, Dead)
                | (PreparingRebalance, CompletingRebalance)
                | (PreparingRebalance, Empty)
                | (PreparingRebalance, Dead)
                | (CompletingRebalance, PreparingRebalance)
                | (CompletingRebalance, Stable)
                | (CompletingRebalance, Dead)
                | (Stable, PreparingRebalance)
                | (Stable, Dead)
        )
    }

    /// Panics on an illegal move: that is a coordinator bug, never input.
    pub fn check_transition(self, next: GroupState) {
        assert!(self.can_move_to(next), "illegal group transition {self:?} -> {next:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::GroupState::*;
    use super::*;

    #[test]
    fn the_transition_table() {
        let all = [Empty, PreparingRebalance, CompletingRebalance, Stable, Dead];
        let legal: Vec<(GroupState, GroupState)> =
            all.iter().flat_map(|a| all.iter().map(move |b| (*a, *b))).filter(|(a, b)| a.can_move_to(*b)).collect();
        assert_eq!(
            legal,
            vec![
                (Empty, PreparingRebalance),
                (Empty, Dead),
                (PreparingRebalance, Empty),
                (PreparingRebalance, CompletingRebalance),
                (PreparingRebalance, Dead),
                (CompletingRebalance, PreparingRebalance),
                (CompletingRebalance, Stable),
                (CompletingRebalance, Dead),
                (Stable, PreparingRebalance),
                (Stable, Dead),
            ]
        );
        for s in all {
            assert_eq!(GroupState::from_name(s.name()), Some(s));
        }
    }

    #[test]
    #[should_panic(expected = "illegal group transition")]
    fn illegal_moves_panic() {
        Dead.check_transition(Stable);
    }
}
