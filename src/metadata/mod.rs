//! The metadata store: everything durable except the record batches
//! themselves, split by concern into small traits (see
//! docs/design/0003-store-shape.md for which trait owns which tables and how
//! a new kind of state is added).
//!
//! | trait | file | what it keeps |
//! |---|---|---|
//! | [`BrokerRegistry`] | `brokers.rs` | cluster id, registered brokers and their epochs |
//! | [`TopicCatalog`] | `topics.rs` | topics, their configs and partitions |
//! | [`LogIndex`] | `log_index.rs` | per-partition offsets, the offset index, aborted ranges, and the statements a commit runs ([`CommitTx`]) |
//! | [`ObjectCatalog`] | `objects.rs` | which objects are committed, for garbage collection |
//! | [`GroupOffsets`] | `groups.rs` | groups, committed offsets, offsets staged by transactions |
//! | [`ProducerStore`] | `producers.rs` | producer ids, producer state per partition, transactional ids |
//!
//! The traits hold persistence primitives, never Kafka semantics: the
//! rules (idempotent-producer sequences, transaction states, error codes)
//! live above them and are written once. Record types (`*Record`) are owned
//! here; coordinators convert them to their own state.
//!
//! [`MetadataStore`] is every trait at once, implemented by SQLite
//! ([`sqlite`], the embedded default) and PostgreSQL ([`postgres`], shared by
//! every broker); each trait has its own `conformance` suite run against
//! both. [`bounded::Bounded`] puts a time limit on every call, derived from
//! the trait declarations. Components receive only the traits they use.
//!
//! Several brokers learn about each other's commits through the [`Change`]
//! feed (PostgreSQL LISTEN/NOTIFY); SQLite serves one broker and has no feed.

use thiserror::Error;
use uuid::Uuid;

pub mod bounded;
mod brokers;
#[cfg(test)]
pub mod conformance;
mod groups;
mod log_index;
mod objects;
pub mod postgres;
mod producers;
pub mod sqlite;
mod topics;

pub use brokers::{BrokerRecord, BrokerRegistry};
pub use groups::{CommittedOffset, GroupOffsets, GroupRecord, TxnOffsetsFor, TxnOffsetsRefusal};
pub use log_index::{
    CommitFlow, CommitTx, IndexRow, LogIndex, ObjectRecord, ObjectRow, OpenTxn, PartitionOffsets, ProducerKey,
    RowInsert, RowMove,
};
pub use objects::{InlineObject, ObjectCatalog};
pub use producers::{ProducerRecord, ProducerStore, TxnRecord};
pub use topics::{TopicCatalog, TopicRecord};

#[derive(Debug, Error)]
pub enum MetaError {
    #[error("topic {name} already exists")]
    TopicExists { name: String },
    #[error("topic {name} does not exist")]
    TopicNotFound { name: String },
    #[error("partition {partition} of topic {topic_id} does not exist")]
    PartitionNotFound { topic_id: Uuid, partition: i32 },
    #[error("metadata store unavailable during {operation}: {detail}")]
    Unavailable { operation: &'static str, detail: String },
    #[error("metadata store did not answer {operation} within {after_ms} ms; it may or may not have taken effect")]
    TimedOut { operation: &'static str, after_ms: u64 },
    #[error("offsets for transactional id {transactional_id:?} not staged: {refusal}")]
    TxnOffsetsRefused { transactional_id: String, refusal: TxnOffsetsRefusal },
    #[error("metadata store holds inconsistent data: {detail}")]
    Corrupt { detail: String },
}

/// Something another broker changed, as the store reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The feed (re)connected: notifications may have been missed, so
    /// everything cached should be reloaded.
    Resync,
    /// Topics were created or deleted.
    Topics,
    /// A partition's offsets advanced (a commit, or retention).
    Partition { node_id: i32, topic_id: Uuid, partition: i32, offsets: PartitionOffsets },
}

/// Every concern at once: what a backend implements and what the broker
/// assembles components from (each takes only the traits it needs).
pub trait MetadataStore:
    BrokerRegistry + TopicCatalog + LogIndex + ObjectCatalog + GroupOffsets + ProducerStore
{
    /// The feed of changes made by any broker, or `None` where the store
    /// serves a single broker. Called once, at start-up.
    fn change_feed(&self) -> Option<tokio::sync::mpsc::Receiver<Change>> {
        None
    }

    /// Updates the store's own gauges (e.g. connection pool use).
    fn report_metrics(&self) {}
}

/// Updates the store's own gauges every `every`, until the process ends.
pub async fn report_metrics(store: std::sync::Arc<dyn MetadataStore>, every: std::time::Duration) {
    loop {
        tokio::time::sleep(every).await;
        store.report_metrics();
    }
}

/// The stored form of a list of strings: each as `<byte length>:<text>`,
/// so any text (a group id with commas, say) round-trips.
pub(crate) fn encode_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().map(|i| format!("{}:{i}", i.len())).collect()
}

/// The list [`encode_list`] wrote; `None` if the text is damaged.
pub(crate) fn decode_list(mut s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    while !s.is_empty() {
        let (len, rest) = s.split_once(':')?;
        let len: usize = len.parse().ok()?;
        let item = rest.get(..len)?;
        out.push(item.to_string());
        s = &rest[len..];
    }
    Some(out)
}

/// Kafka cluster ids are 22-character URL-safe base64 of a random UUID.
pub(crate) fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in Uuid::new_v4().as_bytes().chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_any_text() {
        let items = ["", "a,b", "4:x", "ünïcode", "with:colons:"];
        let encoded = encode_list(items);
        assert_eq!(decode_list(&encoded).unwrap(), items);
        assert_eq!(decode_list(""), Some(vec![]));
        assert_eq!(decode_list("9:short"), None);
        assert_eq!(decode_list("x:y"), None);
    }

    #[test]
    fn cluster_ids_look_like_kafkas() {
        let id = new_cluster_id();
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(id, new_cluster_id());
    }
}
