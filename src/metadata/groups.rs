//! Consumer groups as stored: the groups, their committed offsets, and the
//! offsets transactions sent to them, pending until the transaction ends
//! (tables `groups`, `group_offsets`, `txn_offsets`; staging reads
//! `transactions`, see [`super::ProducerStore`]). Used by the group
//! coordinator, and by the transaction coordinator to settle.

use thiserror::Error;

use super::bounded::store_trait;
use super::{MetaError, TxnRecord};

/// A group as stored: enough to list it after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub group_id: String,
    pub protocol_type: String,
}

/// A committed consumer-group offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_ms: i64,
}

/// The transaction offsets are staged for: the transactional id's stored
/// record must still name this producer id and epoch, be in `open_state`
/// (the coordinator's name for an open transaction) and hold the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetsFor {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub open_state: &'static str,
}

/// Which part of [`TxnOffsetsFor`] the stored record did not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TxnOffsetsRefusal {
    #[error("the transactional id is unknown or held by another producer id")]
    UnknownProducer,
    #[error("the producer's epoch is not the transactional id's current one")]
    Fenced,
    #[error("the producer has no open transaction holding the group")]
    NotInTransaction,
}

impl TxnOffsetsFor {
    /// Whether `stored` matches for `group_id`; which part does not, otherwise.
    pub(crate) fn check(&self, stored: Option<&TxnRecord>, group_id: &str) -> Result<(), MetaError> {
        let refusal = match stored {
            None => Some(TxnOffsetsRefusal::UnknownProducer),
            Some(t) if t.producer_id != self.producer_id => Some(TxnOffsetsRefusal::UnknownProducer),
            Some(t) if t.producer_epoch != self.producer_epoch => Some(TxnOffsetsRefusal::Fenced),
            Some(t) if t.state != self.open_state || !t.groups.iter().any(|g| g == group_id) => {
                Some(TxnOffsetsRefusal::NotInTransaction)
            }
            Some(_) => None,
        };
        match refusal {
            None => Ok(()),
            Some(refusal) => {
                Err(MetaError::TxnOffsetsRefused { transactional_id: self.transactional_id.clone(), refusal })
            }
        }
    }
}

store_trait! {
    pub trait GroupOffsets {
        /// Every stored group.
        async fn list_groups(&self) -> Result<Vec<GroupRecord>, MetaError>;

        /// In one transaction: records the group (keeping an existing
        /// protocol type unless `protocol_type` is non-empty) and upserts offsets.
        async fn commit_offsets(&self, group: &GroupRecord, offsets: &[CommittedOffset]) -> Result<(), MetaError>;

        /// The group's committed offsets, ordered by topic and partition.
        async fn fetch_offsets(&self, group_id: &str) -> Result<Vec<CommittedOffset>, MetaError>;

        /// Deletes some of a group's offsets (`Some`) or the group and all
        /// of its offsets (`None`).
        async fn delete_offsets(&self, group_id: &str, which: Option<&[(String, i32)]>) -> Result<(), MetaError>;

        /// In one transaction, and only while the transactional id's record
        /// matches `txn` (see [`TxnOffsetsFor`]): records the group (as
        /// [`GroupOffsets::commit_offsets`] does) and stages offsets the
        /// producer sent to it (TxnOffsetCommit), replacing its earlier
        /// pending offset for the same partition. They take effect only
        /// through [`GroupOffsets::settle_txn_offsets`].
        /// [`MetaError::TxnOffsetsRefused`] (nothing staged) otherwise: the
        /// check and the insert are atomic with respect to the coordinator
        /// saving the transaction, so no staged offset outlives it.
        async fn stage_txn_offsets(
            &self,
            group: &GroupRecord,
            txn: &TxnOffsetsFor,
            offsets: &[CommittedOffset],
        ) -> Result<(), MetaError>;

        /// In one transaction: the producer's transaction ended; its pending
        /// offsets for `groups` become the groups' committed offsets
        /// (`commit`) or are dropped (abort). Returns how many were applied
        /// or dropped. Idempotent: a second call finds nothing pending.
        async fn settle_txn_offsets(&self, producer_id: i64, groups: &[String], commit: bool) -> Result<u64, MetaError>;

        /// The partitions with offsets pending in some open transaction for
        /// the group, by topic and partition (OffsetFetch's require_stable).
        async fn pending_txn_offsets(&self, group_id: &str) -> Result<Vec<(String, i32)>, MetaError>;
    }
}
