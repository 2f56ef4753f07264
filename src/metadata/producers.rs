//! Producers as stored: the producer id counter, idempotent-producer state
//! per partition, and each transactional id's coordinator state (tables
//! `producer_id_counter` / sequence `producer_ids`, `producer_state`,
//! `transactions`; saving a transaction also registers its partitions in
//! `txn_open`, which commits then read, see [`super::LogIndex`]). Used by
//! the transaction coordinator and the log.

use uuid::Uuid;

use super::bounded::store_trait;
use super::{decode_list, encode_list, MetaError};

/// An idempotent or transactional producer known on a partition
/// (DescribeProducers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The last batches accepted, in the stored form the log's append rules
    /// write (see [`crate::producer::ProducerState`]).
    pub batches: String,
    pub updated_ms: i64,
    /// The largest record timestamp of its last batch on the partition, -1
    /// when unknown.
    pub last_timestamp: i64,
    /// The coordinator epoch of the last transaction marker written for it,
    /// -1 when none.
    pub coordinator_epoch: i32,
    /// Where its open transaction began on the partition, if one is open
    /// and has written there.
    pub txn_first_offset: Option<i64>,
}

/// One transactional id's coordinator state as stored. The store compares
/// `state` but never interprets it: the names are the coordinator's
/// (Kafka's: "Empty", "Ongoing", ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub state: String,
    pub timeout_ms: i32,
    /// (topic name, partition), in the coordinator's order.
    pub partitions: Vec<(String, i32)>,
    pub groups: Vec<String>,
    pub started_ms: i64,
    pub updated_ms: i64,
}

/// What a save or delete compares the stored record with: its producer id,
/// epoch and state before the decision.
pub type TxnVersion<'a> = (i64, i16, &'a str);

/// The columns of `transactions`, in the order both stores read them.
pub(crate) const TXN_COLUMNS: &str =
    "transactional_id, producer_id, producer_epoch, state, timeout_ms, partitions, groups, started_ms, updated_ms";

impl TxnRecord {
    /// The `partitions` column.
    pub(crate) fn partitions_column(&self) -> String {
        let items: Vec<String> = self.partitions.iter().map(|(t, p)| format!("{p}:{t}")).collect();
        encode_list(items.iter().map(String::as_str))
    }

    /// The `groups` column.
    pub(crate) fn groups_column(&self) -> String {
        encode_list(self.groups.iter().map(String::as_str))
    }

    /// Rebuilds a record from the [`TXN_COLUMNS`]; `Corrupt` if the
    /// encoded lists are damaged.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_columns(
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        state: String,
        timeout_ms: i32,
        partitions: &str,
        groups: &str,
        started_ms: i64,
        updated_ms: i64,
    ) -> Result<Self, MetaError> {
        let damaged = || MetaError::Corrupt { detail: format!("transaction state of {transactional_id:?}") };
        let partitions = decode_list(partitions)
            .ok_or_else(damaged)?
            .into_iter()
            .map(|item| {
                let (p, t) = item.split_once(':')?;
                Some((t.to_string(), p.parse().ok()?))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(damaged)?;
        let groups = decode_list(groups).ok_or_else(damaged)?;
        Ok(Self {
            transactional_id,
            producer_id,
            producer_epoch,
            state,
            timeout_ms,
            partitions,
            groups,
            started_ms,
            updated_ms,
        })
    }
}

store_trait! {
    pub trait ProducerStore {
        /// A producer id never handed out before.
        async fn allocate_producer_id(&self) -> Result<i64, MetaError>;

        /// Forgets idempotent-producer state not updated since `before_ms`
        /// (Kafka's producer.id.expiration.ms); returns how many states went.
        async fn expire_producers(&self, before_ms: i64) -> Result<u64, MetaError>;

        /// How many distinct producer ids have state on some partition.
        async fn count_producers(&self) -> Result<u64, MetaError>;

        /// The producers known on a partition, by producer id.
        async fn partition_producers(&self, topic_id: Uuid, partition: i32) -> Result<Vec<ProducerRecord>, MetaError>;

        /// A transactional id's state.
        async fn load_transaction(&self, transactional_id: &str) -> Result<Option<TxnRecord>, MetaError>;

        /// Every transactional id's state, by id.
        async fn list_transactions(&self) -> Result<Vec<TxnRecord>, MetaError>;

        /// In one transaction: saves `txn` if the stored record still
        /// matches `expected` (`None`: nothing stored yet), and registers
        /// `open` partitions (by topic id) as part of its producer's open
        /// transaction. `false` when the compare failed: another
        /// coordinator decided first.
        async fn save_transaction(
            &self,
            txn: &TxnRecord,
            expected: Option<TxnVersion<'_>>,
            open: &[(Uuid, i32)],
        ) -> Result<bool, MetaError>;

        /// Forgets a transactional id whose stored record still matches
        /// `expected`; `false` when it moved on.
        async fn delete_transaction(&self, transactional_id: &str, expected: TxnVersion<'_>) -> Result<bool, MetaError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_form_round_trips_any_names() {
        let r = TxnRecord {
            transactional_id: "t".into(),
            producer_id: 7,
            producer_epoch: 2,
            state: "Ongoing".into(),
            timeout_ms: 60_000,
            partitions: vec![("a:b".into(), 0), ("ü,c".into(), 12), ("".into(), 3)],
            groups: vec!["g:1".into(), "".into(), "x,y".into()],
            started_ms: 5,
            updated_ms: 6,
        };
        let back = TxnRecord::from_columns(
            r.transactional_id.clone(),
            7,
            2,
            "Ongoing".into(),
            60_000,
            &r.partitions_column(),
            &r.groups_column(),
            5,
            6,
        )
        .unwrap();
        assert_eq!(back, r);
        let damaged = TxnRecord::from_columns("t".into(), 7, 2, "Ongoing".into(), 1, "3:0:", "", 5, 6);
        assert!(matches!(damaged, Err(MetaError::Corrupt { .. })));
    }
}
