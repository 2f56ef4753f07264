//! The transaction coordinator's state machine (Kafka's
//! TransactionMetadata / TransactionStateManager rules), pure: requests and
//! time come in, the next [`TxnMetadata`] and what to do come out. The
//! [`coordinator`] loads a transactional id's metadata from the metadata
//! store (as a [`TxnRecord`]), applies one of these functions, persists the
//! result and carries out the returned [`Effect`] (write commit/abort
//! markers, apply or drop transactional offsets).
//!
//! States and their legal predecessors are Kafka's:
//!
//! | state | may follow |
//! |---|---|
//! | Empty | Empty, CompleteCommit, CompleteAbort |
//! | Ongoing | Ongoing, Empty, CompleteCommit, CompleteAbort |
//! | PrepareCommit | Ongoing |
//! | PrepareAbort | Ongoing, PrepareEpochFence |
//! | CompleteCommit | PrepareCommit |
//! | CompleteAbort | PrepareAbort |
//! | PrepareEpochFence | Ongoing |
//! | Dead | Empty, CompleteCommit, CompleteAbort |

use std::collections::BTreeSet;

use crate::metadata::{MetaError, TxnRecord};
use crate::protocol::ErrorCode;

pub mod coordinator;
#[cfg(test)]
mod coordinator_tests;

pub use coordinator::{TxnCoordinator, TxnError, TxnParts, TxnSettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    PrepareEpochFence,
    Dead,
}

impl TxnState {
    /// The name Kafka's admin APIs use (DescribeTransactions, ListTransactions).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
            TxnState::Dead => "Dead",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        ALL_STATES.iter().copied().find(|s| s.name() == name)
    }

    fn may_follow(self, from: TxnState) -> bool {
        use TxnState::*;
        match self {
            Empty => matches!(from, Empty | CompleteCommit | CompleteAbort),
            Ongoing => matches!(from, Ongoing | Empty | CompleteCommit | CompleteAbort),
            PrepareCommit => from == Ongoing,
            PrepareAbort => matches!(from, Ongoing | PrepareEpochFence),
            CompleteCommit => from == PrepareCommit,
            CompleteAbort => from == PrepareAbort,
            PrepareEpochFence => from == Ongoing,
            Dead => matches!(from, Empty | CompleteCommit | CompleteAbort),
        }
    }
}

pub const ALL_STATES: [TxnState; 8] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
    TxnState::PrepareEpochFence,
    TxnState::Dead,
];

/// A partition taking part in a transaction, by topic name as the
/// transactional APIs name it.
pub type TxnPartition = (String, i32);

/// One transactional id's durable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub state: TxnState,
    pub timeout_ms: i32,
    pub partitions: BTreeSet<TxnPartition>,
    /// Groups whose offsets the transaction commits (AddOffsetsToTxn).
    pub groups: BTreeSet<String>,
    /// When the current (or last completed) transaction began: its first
    /// AddPartitionsToTxn / AddOffsetsToTxn. -1 before any, and again after
    /// InitProducerId.
    pub started_ms: i64,
    pub updated_ms: i64,
}

/// What the coordinator must do after persisting the new metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    None,
    /// Write a commit (true) or abort (false) marker with `producer_epoch`
    /// to every partition, settle the groups' transactional offsets, then
    /// move to CompleteCommit / CompleteAbort with [`TxnMetadata::complete`].
    WriteMarkers {
        commit: bool,
        partitions: BTreeSet<TxnPartition>,
        groups: BTreeSet<String>,
        producer_epoch: i16,
    },
}

/// The epoch after which a producer id is retired: a bump past it takes a
/// new producer id instead.
const EPOCH_MAX: i16 = i16::MAX - 1;

impl TxnMetadata {
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        Self {
            transactional_id: transactional_id.to_string(),
            producer_id,
            producer_epoch: 0,
            state: TxnState::Empty,
            timeout_ms,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            started_ms: -1,
            updated_ms: now_ms,
        }
    }

    fn transition(&mut self, to: TxnState, now_ms: i64) {
        assert!(to.may_follow(self.state), "illegal transaction transition {:?} -> {to:?}", self.state);
        self.state = to;
        self.updated_ms = now_ms;
    }

    /// Checks the producer a request names against this transactional id.
    fn check_producer(&self, producer_id: i64, producer_epoch: i16) -> Result<(), ErrorCode> {
        if producer_id != self.producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if producer_epoch != self.producer_epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        Ok(())
    }

    /// Whether the next epoch bump takes a new producer id.
    pub fn epoch_exhausted(&self) -> bool {
        self.producer_epoch >= EPOCH_MAX
    }

    /// InitProducerId for an existing id (the caller has checked
    /// `timeout_ms` against the broker's maximum). `expected` is the producer id
    /// and epoch a (KIP-360) client says it holds. `new_producer_id` is
    /// called when the epoch is exhausted. Returns the effect to carry out
    /// first (aborting an open transaction: the client retries afterwards).
    pub fn init_producer(
        &mut self,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        now_ms: i64,
        new_producer_id: impl FnOnce() -> i64,
    ) -> Result<Effect, ErrorCode> {
        if timeout_ms < 1 {
            return Err(ErrorCode::InvalidTransactionTimeout);
        }
        if let Some((pid, epoch)) = expected {
            let retry_of_last_init = pid == self.producer_id && epoch == self.producer_epoch - 1;
            if pid != self.producer_id || (epoch != self.producer_epoch && !retry_of_last_init) {
                return Err(ErrorCode::ProducerFenced);
            }
        }
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
                Err(ErrorCode::ConcurrentTransactions)
            }
            TxnState::Ongoing => {
                // Fence the old producer and abort what it left open; the
                // client retries and then gets the new epoch.
                Ok(self.abort_with_bumped_epoch(now_ms))
            }
            TxnState::Dead => Err(ErrorCode::ConcurrentTransactions),
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                self.bump_epoch(new_producer_id);
                self.timeout_ms = timeout_ms;
                self.partitions.clear();
                self.groups.clear();
                self.started_ms = -1;
                self.transition(TxnState::Empty, now_ms);
                Ok(Effect::None)
            }
        }
    }

    fn bump_epoch(&mut self, new_producer_id: impl FnOnce() -> i64) {
        if self.producer_epoch >= EPOCH_MAX {
            self.producer_id = new_producer_id();
            self.producer_epoch = 0;
        } else {
            self.producer_epoch += 1;
        }
    }

    /// Aborts the open transaction under a bumped epoch: the markers carry
    /// it, which fences the old producer on every partition. (An epoch at
    /// [`EPOCH_MAX`] may reach i16::MAX here; the next InitProducerId then
    /// takes a new producer id.)
    fn abort_with_bumped_epoch(&mut self, now_ms: i64) -> Effect {
        self.transition(TxnState::PrepareEpochFence, now_ms);
        self.producer_epoch = self.producer_epoch.saturating_add(1);
        self.transition(TxnState::PrepareAbort, now_ms);
        Effect::WriteMarkers {
            commit: false,
            partitions: self.partitions.clone(),
            groups: self.groups.clone(),
            producer_epoch: self.producer_epoch,
        }
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn.
    pub fn add(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TxnPartition],
        group: Option<&str>,
        now_ms: i64,
    ) -> Result<(), ErrorCode> {
        self.check_producer(producer_id, producer_epoch)?;
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
                return Err(ErrorCode::ConcurrentTransactions)
            }
            TxnState::Dead => return Err(ErrorCode::InvalidTxnState),
            _ => {}
        }
        if self.state != TxnState::Ongoing {
            self.partitions.clear();
            self.groups.clear();
            self.started_ms = now_ms;
        }
        self.partitions.extend(partitions.iter().cloned());
        if let Some(g) = group {
            self.groups.insert(g.to_string());
        }
        self.transition(TxnState::Ongoing, now_ms);
        Ok(())
    }

    /// EndTxn: commit (true) or abort (false).
    pub fn end(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Result<Effect, ErrorCode> {
        self.check_producer(producer_id, producer_epoch)?;
        match (self.state, commit) {
            (TxnState::Ongoing, _) => {
                self.transition(if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort }, now_ms);
                Ok(Effect::WriteMarkers {
                    commit,
                    partitions: self.partitions.clone(),
                    groups: self.groups.clone(),
                    producer_epoch: self.producer_epoch,
                })
            }
            // A retry of an EndTxn that already completed.
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(Effect::None),
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => Err(ErrorCode::ConcurrentTransactions),
            (TxnState::PrepareEpochFence, _) => Err(ErrorCode::ConcurrentTransactions),
            // Aborting with nothing open is allowed and does nothing.
            (TxnState::Empty, false) => Ok(Effect::None),
            _ => Err(ErrorCode::InvalidTxnState),
        }
    }

    /// The markers of a PrepareCommit / PrepareAbort were written.
    pub fn complete(&mut self, now_ms: i64) {
        let to = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            other => panic!("complete() in state {other:?}"),
        };
        // The start time stays: DescribeTransactions reports it for a
        // completed transaction too, as Kafka does.
        self.partitions.clear();
        self.groups.clear();
        self.transition(to, now_ms);
    }

    /// An Ongoing transaction older than its timeout is aborted by the
    /// coordinator, with the epoch bumped so the producer is fenced.
    pub fn expire(&mut self, now_ms: i64) -> Option<Effect> {
        let expired = self.state == TxnState::Ongoing && now_ms - self.started_ms > i64::from(self.timeout_ms);
        expired.then(|| self.abort_with_bumped_epoch(now_ms))
    }
}

impl TxnMetadata {
    /// The stored form.
    pub fn to_record(&self) -> TxnRecord {
        TxnRecord {
            transactional_id: self.transactional_id.clone(),
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            state: self.state.name().to_string(),
            timeout_ms: self.timeout_ms,
            partitions: self.partitions.iter().cloned().collect(),
            groups: self.groups.iter().cloned().collect(),
            started_ms: self.started_ms,
            updated_ms: self.updated_ms,
        }
    }

    /// Rebuilds the metadata from its stored form; `Corrupt` for a state
    /// this coordinator does not know.
    pub fn from_record(r: TxnRecord) -> Result<Self, MetaError> {
        let state = TxnState::from_name(&r.state).ok_or_else(|| MetaError::Corrupt {
            detail: format!("transactional id {:?} is in unknown state {:?}", r.transactional_id, r.state),
        })?;
        Ok(Self {
            transactional_id: r.transactional_id,
            producer_id: r.producer_id,
            producer_epoch: r.producer_epoch,
            state,
            timeout_ms: r.timeout_ms,
            partitions: r.partitions.into_iter().collect(),
            groups: r.groups.into_iter().collect(),
            started_ms: r.started_ms,
            updated_ms: r.updated_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str, n: i32) -> TxnPartition {
        (t.to_string(), n)
    }

    fn markers(e: &Effect) -> (bool, usize, i16) {
        match e {
            Effect::WriteMarkers { commit, partitions, producer_epoch, .. } => {
                (*commit, partitions.len(), *producer_epoch)
            }
            Effect::None => panic!("expected markers"),
        }
    }

    #[test]
    fn the_transition_table_is_kafkas() {
        use TxnState::*;
        let legal: Vec<(TxnState, TxnState)> = ALL_STATES
            .iter()
            .flat_map(|to| ALL_STATES.iter().filter(|from| to.may_follow(**from)).map(move |from| (*from, *to)))
            .collect();
        assert_eq!(legal.len(), 16);
        assert!(Ongoing.may_follow(CompleteAbort) && !CompleteCommit.may_follow(Ongoing));
        assert!(PrepareAbort.may_follow(PrepareEpochFence) && !PrepareCommit.may_follow(PrepareEpochFence));
        for s in ALL_STATES {
            assert_eq!(TxnState::from_name(s.name()), Some(s));
        }
    }

    #[test]
    fn commit_and_abort_cycles() {
        let mut m = TxnMetadata::new("tx", 7, 60_000, 0);
        m.init_producer(60_000, None, 1, || unreachable!()).unwrap();
        assert_eq!((m.producer_epoch, m.state), (1, TxnState::Empty));
        m.add(7, 1, &[p("a", 0), p("b", 1)], None, 10).unwrap();
        m.add(7, 1, &[p("a", 0)], Some("g"), 11).unwrap();
        assert_eq!((m.state, m.partitions.len(), m.started_ms), (TxnState::Ongoing, 2, 10));
        let e = m.end(7, 1, true, 20).unwrap();
        assert_eq!(markers(&e), (true, 2, 1));
        assert_eq!(m.state, TxnState::PrepareCommit);
        assert_eq!(m.add(7, 1, &[p("a", 0)], None, 21), Err(ErrorCode::ConcurrentTransactions));
        m.complete(22);
        assert_eq!((m.state, m.partitions.len(), m.started_ms), (TxnState::CompleteCommit, 0, 10));
        // A retried EndTxn is answered without doing anything again.
        assert_eq!(m.end(7, 1, true, 23), Ok(Effect::None));
        assert_eq!(m.end(7, 1, false, 23), Err(ErrorCode::InvalidTxnState));
        // The next transaction, aborted.
        m.add(7, 1, &[p("c", 0)], None, 30).unwrap();
        let e = m.end(7, 1, false, 31).unwrap();
        assert_eq!(markers(&e), (false, 1, 1));
        m.complete(32);
        assert_eq!(m.state, TxnState::CompleteAbort);
        assert_eq!(m.end(7, 1, true, 33), Err(ErrorCode::InvalidTxnState));
    }

    #[test]
    fn zombies_are_fenced() {
        let mut m = TxnMetadata::new("tx", 7, 60_000, 0);
        m.add(7, 0, &[p("a", 0)], None, 1).unwrap();
        // A new instance initialises while the old one has a transaction
        // open: the open one is aborted with a bumped epoch first.
        let e = m.init_producer(60_000, None, 2, || unreachable!()).unwrap();
        assert_eq!(markers(&e), (false, 1, 1));
        assert_eq!(m.init_producer(60_000, None, 3, || unreachable!()), Err(ErrorCode::ConcurrentTransactions));
        m.complete(4);
        m.init_producer(60_000, None, 5, || unreachable!()).unwrap();
        assert_eq!((m.producer_epoch, m.state), (2, TxnState::Empty));
        // The zombie (epoch 0) is refused everywhere.
        assert_eq!(m.add(7, 0, &[p("a", 0)], None, 6), Err(ErrorCode::ProducerFenced));
        assert_eq!(m.end(7, 0, true, 6), Err(ErrorCode::ProducerFenced));
        assert_eq!(m.add(8, 2, &[p("a", 0)], None, 6), Err(ErrorCode::InvalidProducerIdMapping));
        // KIP-360: a client naming an old epoch is fenced; naming the
        // current one bumps it.
        assert_eq!(m.init_producer(60_000, Some((7, 0)), 7, || unreachable!()), Err(ErrorCode::ProducerFenced));
        m.init_producer(60_000, Some((7, 2)), 7, || unreachable!()).unwrap();
        assert_eq!(m.producer_epoch, 3);
    }

    #[test]
    fn exhausted_epochs_take_a_new_producer_id() {
        let mut m = TxnMetadata::new("tx", 7, 60_000, 0);
        m.producer_epoch = EPOCH_MAX;
        m.init_producer(60_000, None, 1, || 99).unwrap();
        assert_eq!((m.producer_id, m.producer_epoch), (99, 0));
    }

    #[test]
    fn timed_out_transactions_are_aborted_and_fence_the_producer() {
        let mut m = TxnMetadata::new("tx", 7, 1_000, 0);
        assert_eq!(m.expire(5_000), None, "nothing open");
        m.add(7, 0, &[p("a", 0)], None, 100).unwrap();
        assert_eq!(m.expire(1_100), None, "exactly the timeout is not over it");
        let e = m.expire(1_101).expect("aborted");
        assert_eq!(markers(&e), (false, 1, 1));
        m.complete(1_102);
        assert_eq!(m.state, TxnState::CompleteAbort);
        assert_eq!(m.end(7, 0, true, 1_103), Err(ErrorCode::ProducerFenced));
    }

    #[test]
    fn the_record_round_trips() {
        let mut m = TxnMetadata::new("tx", 7, 60_000, 5);
        m.add(7, 0, &[p("orders", 3), p("a.b-c_d", 0)], Some("group: with spaces:and:colons"), 9).unwrap();
        m.add(7, 0, &[], Some(""), 9).unwrap();
        assert_eq!(TxnMetadata::from_record(m.to_record()).unwrap(), m);
        for state in ALL_STATES {
            let r = TxnMetadata { state, ..m.clone() }.to_record();
            assert_eq!(r.state, state.name());
            assert_eq!(TxnMetadata::from_record(r).unwrap().state, state);
        }
        let unknown = TxnRecord { state: "Sleeping".into(), ..m.to_record() };
        assert!(matches!(TxnMetadata::from_record(unknown), Err(MetaError::Corrupt { .. })));
    }

    #[test]
    fn timeouts_are_bounded() {
        let mut m = TxnMetadata::new("tx", 7, 60_000, 0);
        assert_eq!(m.init_producer(0, None, 1, || 1), Err(ErrorCode::InvalidTransactionTimeout));
    }
}
