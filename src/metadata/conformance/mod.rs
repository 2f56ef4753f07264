//! One behaviour suite per store trait, run against every backend: each
//! backend's tests call `<trait>::run` with a fresh, empty store.
//!
//! Commits need a [`CommitFlow`]; the suites drive the [`CommitTx`]
//! statements with [`Script`], a flow that runs a given list of statements
//! and records what each returned, so the store's contract is checked
//! without the log's append rules (those have their own tests, on both
//! backends, in `crate::log::append`).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use uuid::Uuid;

use super::{
    CommitFlow, CommitTx, CommittedOffset, MetaError, MetadataStore, ObjectRecord, OpenTxn, PartitionOffsets,
    ProducerKey, RowInsert, TopicRecord, TxnRecord,
};

pub mod brokers;
pub mod groups;
pub mod log_index;
pub mod objects;
pub mod producers;
pub mod topics;

/// A topic with one config, as the suites create them.
pub fn topic(name: &str, partitions: i32) -> TopicRecord {
    let mut configs = BTreeMap::new();
    configs.insert("retention.ms".to_string(), "1000".to_string());
    TopicRecord { id: Uuid::new_v4(), name: name.to_string(), partitions, configs, created_ms: 1 }
}

/// A batch to give offsets: `count` offsets of `length` bytes at `position`.
#[derive(Debug, Clone, Copy)]
pub struct Append {
    pub topic_id: Uuid,
    pub partition: i32,
    pub count: i64,
    pub position: u64,
    pub length: u32,
    pub max_timestamp: i64,
}

impl Append {
    pub fn new(topic_id: Uuid, partition: i32, count: i64, max_timestamp: i64) -> Self {
        Self { topic_id, partition, count, position: 0, length: 100, max_timestamp }
    }

    pub fn at(self, position: u64) -> Self {
        Self { position, ..self }
    }
}

/// One statement of a [`Script`].
#[derive(Debug, Clone)]
pub enum Op {
    Lock(Uuid, i32),
    LoadProducer(ProducerKey),
    SaveProducer {
        key: ProducerKey,
        epoch: i16,
        batches: &'static str,
        updated_ms: i64,
        last_timestamp: i64,
        coordinator_epoch: i32,
    },
    Current(Uuid, i32),
    /// `advance`, then `insert_row` at the offsets it returned.
    Append(Append),
    OpenTxn(ProducerKey),
    SetFirst(ProducerKey, i64),
    Close(ProducerKey, Option<(i64, i64)>),
    Refresh(Uuid, i32),
    /// Fails the commit here.
    Fail,
}

/// What a statement of a [`Script`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Done,
    Producer(Option<(i16, String)>),
    Offsets(Option<PartitionOffsets>),
    /// The base offset `Append` got; `None` for a missing partition.
    Base(Option<i64>),
    Open(Option<OpenTxn>),
    Unstable(Option<i64>),
}

/// A [`CommitFlow`] running fixed statements; it reports the offsets after
/// the last `Append` of each partition.
pub struct Script {
    ops: Vec<Op>,
    pub outs: Vec<Out>,
}

impl Script {
    pub fn new(ops: Vec<Op>) -> Self {
        Self { ops, outs: Vec::new() }
    }
}

#[async_trait]
impl CommitFlow for Script {
    async fn run(&mut self, tx: &mut dyn CommitTx) -> Result<Vec<(Uuid, i32, PartitionOffsets)>, MetaError> {
        let mut advanced: BTreeMap<(Uuid, i32), PartitionOffsets> = BTreeMap::new();
        self.outs.clear();
        for op in self.ops.clone() {
            let out = match op {
                Op::Lock(t, p) => tx.lock_partition(t, p).await.map(|()| Out::Done)?,
                Op::LoadProducer(key) => Out::Producer(tx.load_producer(key).await?),
                Op::SaveProducer { key, epoch, batches, updated_ms, last_timestamp, coordinator_epoch } => {
                    tx.save_producer(key, epoch, batches, updated_ms, last_timestamp, coordinator_epoch).await?;
                    Out::Done
                }
                Op::Current(t, p) => Out::Offsets(tx.current_offsets(t, p).await?),
                Op::Append(a) => match tx.advance(a.topic_id, a.partition, a.count, a.max_timestamp).await? {
                    None => Out::Base(None),
                    Some(offsets) => {
                        let (t, p) = (a.topic_id, a.partition);
                        let row =
                            RowInsert::after_advance(t, p, &offsets, a.count, a.position, a.length, a.max_timestamp);
                        tx.insert_row(&row).await?;
                        advanced.insert((t, p), offsets);
                        Out::Base(Some(row.base_offset))
                    }
                },
                Op::OpenTxn(key) => Out::Open(tx.open_txn(key).await?),
                Op::SetFirst(key, first) => tx.set_txn_first_offset(key, first).await.map(|()| Out::Done)?,
                Op::Close(key, aborted) => tx.close_txn(key, aborted).await.map(|()| Out::Done)?,
                Op::Refresh(t, p) => Out::Unstable(tx.refresh_first_unstable(t, p).await?),
                Op::Fail => return Err(MetaError::Corrupt { detail: "the script failed on purpose".into() }),
            };
            self.outs.push(out);
        }
        Ok(advanced.into_iter().map(|((t, p), o)| (t, p, o)).collect())
    }
}

/// An object record for `key`.
pub fn object(node_id: i32, key: &str) -> ObjectRecord {
    ObjectRecord { object_key: key.to_string(), size_bytes: 100, node_id, created_ms: 1, data: None }
}

/// Runs `ops` as one commit of object `key`; what each statement returned,
/// and the offsets the commit reported.
pub async fn run_script(
    store: &dyn MetadataStore,
    key: &str,
    ops: Vec<Op>,
) -> Result<(Vec<Out>, Vec<(Uuid, i32, PartitionOffsets)>), MetaError> {
    let mut script = Script::new(ops);
    let advanced = store.commit_object(&object(1, key), &mut script).await?;
    Ok((script.outs, advanced))
}

/// Commits `appends` as one object; each batch's base offset (`None`: no
/// such partition).
pub async fn commit(store: &dyn MetadataStore, node_id: i32, key: &str, appends: &[Append]) -> Vec<Option<i64>> {
    let mut script = Script::new(appends.iter().map(|a| Op::Append(*a)).collect());
    store.commit_object(&object(node_id, key), &mut script).await.expect("commit");
    script
        .outs
        .into_iter()
        .map(|o| match o {
            Out::Base(b) => b,
            other => unreachable!("an append returns a base offset, not {other:?}"),
        })
        .collect()
}

/// Creates `name` with one partition holding one committed batch of 3
/// offsets (max timestamp 10) in object `seed/<name>`.
pub async fn seed_one_topic(store: &dyn MetadataStore, name: &str) -> TopicRecord {
    let t = topic(name, 1);
    store.create_topic(&t).await.expect("create");
    let bases = commit(store, 1, &format!("seed/{name}"), &[Append::new(t.id, 0, 3, 10)]).await;
    assert_eq!(bases, [Some(0)]);
    t
}

/// A transactional id's record with a transaction open ("Ongoing", the
/// coordinator's name) at epoch 0, holding `groups`.
pub fn open_txn(transactional_id: &str, producer_id: i64, groups: &[&str]) -> TxnRecord {
    TxnRecord {
        transactional_id: transactional_id.into(),
        producer_id,
        producer_epoch: 0,
        state: "Ongoing".into(),
        timeout_ms: 60_000,
        partitions: vec![],
        groups: groups.iter().map(|g| g.to_string()).collect(),
        started_ms: 2,
        updated_ms: 2,
    }
}

pub fn committed(topic: &str, partition: i32, offset: i64, metadata: Option<&str>) -> CommittedOffset {
    CommittedOffset {
        topic: topic.into(),
        partition,
        offset,
        leader_epoch: 0,
        metadata: metadata.map(String::from),
        commit_ms: 5,
    }
}

/// Offsets by partition, from what a commit reported.
pub fn by_partition(advanced: &[(Uuid, i32, PartitionOffsets)]) -> HashMap<i32, PartitionOffsets> {
    advanced.iter().map(|(_, p, o)| (*p, *o)).collect()
}
