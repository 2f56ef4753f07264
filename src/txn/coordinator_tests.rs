//! The coordinator over the real embedded stores (SQLite file, local
//! directory) and the real log writer: markers land in the log, the last
//! stable offset moves, offsets are settled, zombies and timeouts are
//! handled, and a decided transaction left half done is finished.

use std::sync::Arc;

use bytes::Bytes;
use clap::Parser;
use uuid::Uuid;

use super::{TxnCoordinator, TxnError, TxnMetadata, TxnParts, TxnSettings};
use crate::clock::{Clock, ManualClock};
use crate::cluster::Membership;
use crate::config::{Args, Config};
use crate::group::machine::Identity;
use crate::group::GroupCoordinator;
use crate::log::{Log, LogError, LogLimits, LogStores};
use crate::metadata::sqlite::SqliteStore;
use crate::metadata::{CommittedOffset, MetadataStore, PartitionOffsets, TopicRecord, TxnOffsetsFor};
use crate::object_store::local::LocalStore;
use crate::object_store::ObjectStore;
use crate::protocol::batch::tests::build_batch;
use crate::protocol::batch::validate_produced_batch;
use crate::protocol::control::ATTR_TRANSACTIONAL;
use crate::protocol::ErrorCode;
use crate::topics::Topics;
use crate::txn::{TxnPartition, TxnState};

struct Fixture {
    _dir: tempfile::TempDir,
    config: Config,
    meta: Arc<dyn MetadataStore>,
    log: Log,
    groups: Arc<GroupCoordinator>,
    txns: TxnCoordinator,
    clock: Arc<ManualClock>,
    topic: Uuid,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_string();
    let config = Config::from_args(Args::parse_from(["streamhouse", "--data-dir", &data_dir])).unwrap();
    let meta: Arc<dyn MetadataStore> = Arc::new(SqliteStore::open(&dir.path().join("meta.sqlite")).unwrap());
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::open(dir.path().join("objects")).unwrap());
    let clock = Arc::new(ManualClock::new(1_000_000));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let topic = TopicRecord {
        id: Uuid::new_v4(),
        name: "out".into(),
        partitions: 2,
        configs: Default::default(),
        created_ms: 0,
    };
    meta.create_topic(&topic).await.unwrap();
    let limits = LogLimits {
        node_id: 1,
        flush_bytes_max: 1 << 20,
        flush_linger_ms: 0,
        flushes_in_flight_max: 2,
        writer_buffered_bytes_max: 16 << 20,
        object_cache_bytes_max: 16 << 20,
        index_tail_rows_max: 16,
        decompressed_bytes_max: 1 << 20,
        orphan_grace_ms: 1000,
        // Markers and data go inline, as small flushes do by default.
        inline_bytes_max: 1 << 20,
        spill_bytes_max: 8 << 20,
    };
    let stores = LogStores { index: meta.clone(), objects: meta.clone(), producers: meta.clone() };
    let log = Log::open(stores, store, dyn_clock.clone(), limits);
    let topics =
        Arc::new(Topics::load(meta.clone(), log.clone(), dyn_clock.clone(), config.topic_defaults).await.unwrap());
    let membership = Arc::new(Membership::standalone(dyn_clock.clone(), 1));
    let groups = Arc::new(
        GroupCoordinator::load(meta.clone(), dyn_clock.clone(), config.group.clone(), membership.clone())
            .await
            .unwrap(),
    );
    let parts = TxnParts {
        producers: meta.clone(),
        groups: meta.clone(),
        log: log.clone(),
        topics,
        membership,
        clock: dyn_clock,
    };
    let settings = TxnSettings {
        timeout_max_ms: config.transaction_max_timeout_ms,
        id_expiration_ms: config.transactional_id_expiration_ms,
        abort_check_interval_ms: config.transaction_abort_check_interval_ms,
        marker_write_timeout_ms: config.transaction_marker_write_timeout_ms,
    };
    let txns = TxnCoordinator::new(parts, settings);
    Fixture { _dir: dir, config, meta, log, groups, txns, clock, topic: topic.id }
}

/// The code a client would see.
fn code<T>(r: Result<T, TxnError>) -> Result<T, ErrorCode> {
    r.map_err(|e| ErrorCode::from(&e))
}

fn part(p: i32) -> TxnPartition {
    ("out".to_string(), p)
}

impl Fixture {
    async fn add(&self, id: &str, pid: i64, epoch: i16, partitions: &[i32]) -> Result<(), ErrorCode> {
        let parts: Vec<(TxnPartition, Uuid)> = partitions.iter().map(|p| (part(*p), self.topic)).collect();
        code(self.txns.add_partitions(id, pid, epoch, &parts).await)
    }

    /// Produces a transactional batch of `n` records; its base offset.
    async fn produce(&self, partition: i32, pid: i64, epoch: i16, seq: i32, n: usize) -> Result<i64, LogError> {
        let values: Vec<Vec<u8>> = (0..n).map(|i| format!("v{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let mut b = build_batch(&refs, 1_000);
        // Producer fields and the transactional attribute, then the CRC.
        b[21..23].copy_from_slice(&ATTR_TRANSACTIONAL.to_be_bytes());
        b[43..51].copy_from_slice(&pid.to_be_bytes());
        b[51..53].copy_from_slice(&epoch.to_be_bytes());
        b[53..57].copy_from_slice(&seq.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        let header = validate_produced_batch(&b, 1 << 20).unwrap();
        let receipt = self.log.writer().admit((self.topic, partition), Bytes::from(b), header).await?;
        receipt.await.unwrap()
    }

    fn offsets(&self, partition: i32) -> PartitionOffsets {
        self.log.offsets(self.topic, partition).unwrap()
    }

    async fn state(&self, id: &str) -> (i64, i16, TxnState) {
        let t = self.meta.load_transaction(id).await.unwrap().unwrap();
        (t.producer_id, t.producer_epoch, TxnState::from_name(&t.state).unwrap())
    }

    async fn stage_offset(&self, id: &str, group: &str, pid: i64, offset: i64) -> Result<(), ErrorCode> {
        let o = CommittedOffset {
            topic: "in".into(),
            partition: 0,
            offset,
            leader_epoch: -1,
            metadata: Some(String::new()),
            commit_ms: 1,
        };
        let who = Identity { member_id: "", instance_id: None };
        let txn = TxnOffsetsFor {
            transactional_id: id.to_string(),
            producer_id: pid,
            producer_epoch: 0,
            open_state: TxnState::Ongoing.name(),
        };
        self.groups.stage_txn_offsets(group, &who, -1, &txn, vec![o]).await.map_err(|e| ErrorCode::from(&e))
    }

    async fn committed(&self, group: &str) -> Vec<i64> {
        self.meta.fetch_offsets(group).await.unwrap().iter().map(|o| o.offset).collect()
    }
}

#[tokio::test]
async fn a_commit_writes_markers_applies_offsets_and_frees_the_stable_offset() {
    let f = fixture().await;
    let (pid, epoch) = f.txns.init_producer("app", 60_000, None).await.unwrap();
    assert_eq!(epoch, 0);
    f.add("app", pid, epoch, &[0, 1]).await.unwrap();
    assert_eq!(f.produce(0, pid, epoch, 0, 3).await.unwrap(), 0);
    assert_eq!(f.produce(0, pid, epoch, 3, 2).await.unwrap(), 3);
    assert_eq!((f.offsets(0).next_offset, f.offsets(0).last_stable_offset), (5, 0), "open transaction holds the LSO");
    f.txns.add_offsets("app", pid, epoch, "g").await.unwrap();
    assert_eq!(f.stage_offset("app", "other-group", pid, 1).await, Err(ErrorCode::InvalidTxnState), "not added");
    f.stage_offset("app", "g", pid, 42).await.unwrap();
    assert!(f.committed("g").await.is_empty(), "not before the commit");

    f.txns.end("app", pid, epoch, true).await.unwrap();
    // One marker per partition: p0 after the 5 records, p1 alone.
    assert_eq!((f.offsets(0).next_offset, f.offsets(0).last_stable_offset), (6, 6));
    assert_eq!((f.offsets(1).next_offset, f.offsets(1).last_stable_offset), (1, 1));
    assert_eq!(f.committed("g").await, vec![42]);
    assert_eq!(f.state("app").await, (pid, 0, TxnState::CompleteCommit));
    let done = f.meta.load_transaction("app").await.unwrap().unwrap();
    assert_eq!(done.started_ms, 1_000_000, "a completed transaction keeps its start time");
    assert!(f.meta.aborted_transactions(f.topic, 0, 0, 100).await.unwrap().is_empty());
    assert_eq!(
        f.stage_offset("app", "g", pid, 50).await,
        Err(ErrorCode::InvalidTxnState),
        "offsets for a finished transaction are not staged"
    );
    assert!(f.meta.pending_txn_offsets("g").await.unwrap().is_empty());
    // A retried EndTxn(commit) succeeds and writes nothing more.
    f.txns.end("app", pid, epoch, true).await.unwrap();
    assert_eq!(f.offsets(0).next_offset, 6);
    // A second transaction by the same producer.
    f.add("app", pid, epoch, &[1]).await.unwrap();
    assert_eq!(f.produce(1, pid, epoch, 0, 1).await.unwrap(), 1);
    f.txns.end("app", pid, epoch, true).await.unwrap();
    assert_eq!((f.offsets(1).next_offset, f.offsets(1).last_stable_offset), (3, 3));
}

#[tokio::test]
async fn an_abort_records_the_range_and_drops_the_offsets() {
    let f = fixture().await;
    let (pid, epoch) = f.txns.init_producer("app", 60_000, None).await.unwrap();
    f.add("app", pid, epoch, &[0]).await.unwrap();
    f.produce(0, pid, epoch, 0, 4).await.unwrap();
    f.txns.add_offsets("app", pid, epoch, "g").await.unwrap();
    f.stage_offset("app", "g", pid, 7).await.unwrap();
    f.txns.end("app", pid, epoch, false).await.unwrap();
    assert_eq!(f.meta.aborted_transactions(f.topic, 0, 0, 100).await.unwrap(), vec![(pid, 0)]);
    assert_eq!((f.offsets(0).next_offset, f.offsets(0).last_stable_offset), (5, 5));
    assert!(f.committed("g").await.is_empty());
    assert!(f.meta.pending_txn_offsets("g").await.unwrap().is_empty());
    assert_eq!(f.state("app").await, (pid, 0, TxnState::CompleteAbort));
    // Committing what was aborted is refused.
    assert_eq!(code(f.txns.end("app", pid, epoch, true).await), Err(ErrorCode::InvalidTxnState));
}

#[tokio::test]
async fn a_new_producer_fences_the_old_one_and_aborts_its_transaction() {
    let f = fixture().await;
    let (pid, old) = f.txns.init_producer("app", 60_000, None).await.unwrap();
    f.add("app", pid, old, &[0]).await.unwrap();
    f.produce(0, pid, old, 0, 2).await.unwrap();
    // A second producer with the same transactional id.
    let (pid2, new) = f.txns.init_producer("app", 60_000, None).await.unwrap();
    assert_eq!((pid2, new), (pid, 2), "one bump to fence and abort, one for the new producer");
    assert_eq!(f.meta.aborted_transactions(f.topic, 0, 0, 100).await.unwrap(), vec![(pid, 0)]);
    assert_eq!(f.offsets(0).last_stable_offset, f.offsets(0).next_offset);
    // The zombie can neither end, add, nor write.
    assert_eq!(code(f.txns.end("app", pid, old, true).await), Err(ErrorCode::ProducerFenced));
    assert_eq!(f.add("app", pid, old, &[0]).await, Err(ErrorCode::ProducerFenced));
    let err = f.produce(0, pid, old, 2, 1).await.unwrap_err();
    assert_eq!(ErrorCode::from(&err), ErrorCode::InvalidProducerEpoch);
    // The new producer works.
    f.add("app", pid, new, &[0]).await.unwrap();
    let base = f.produce(0, pid, new, 0, 1).await.unwrap();
    f.txns.end("app", pid, new, true).await.unwrap();
    assert_eq!(f.offsets(0).next_offset, base + 2);
}

#[tokio::test]
async fn the_ticker_aborts_a_transaction_past_its_timeout() {
    let f = fixture().await;
    let (pid, epoch) = f.txns.init_producer("slow", 1_000, None).await.unwrap();
    let (pid_ok, epoch_ok) = f.txns.init_producer("quick", 60_000, None).await.unwrap();
    f.add("slow", pid, epoch, &[0]).await.unwrap();
    f.add("quick", pid_ok, epoch_ok, &[1]).await.unwrap();
    f.produce(0, pid, epoch, 0, 3).await.unwrap();
    f.clock.advance_ms(500);
    assert_eq!(f.txns.tick().await, 0, "not yet");
    f.clock.advance_ms(600);
    assert_eq!(f.txns.tick().await, 1);
    assert_eq!(f.state("slow").await, (pid, epoch + 1, TxnState::CompleteAbort));
    assert_eq!(f.state("quick").await.2, TxnState::Ongoing, "other transactions are untouched");
    assert_eq!(f.meta.aborted_transactions(f.topic, 0, 0, 100).await.unwrap(), vec![(pid, 0)]);
    assert_eq!(f.offsets(0).last_stable_offset, 4);
    assert_eq!(code(f.txns.end("slow", pid, epoch, true).await), Err(ErrorCode::ProducerFenced));
}

#[tokio::test]
async fn a_decided_transaction_left_unfinished_is_finished_by_the_ticker() {
    let f = fixture().await;
    let (pid, epoch) = f.txns.init_producer("app", 60_000, None).await.unwrap();
    f.add("app", pid, epoch, &[0, 1]).await.unwrap();
    f.produce(1, pid, epoch, 0, 2).await.unwrap();
    // A coordinator saved PrepareCommit and died before writing markers.
    let mut t = TxnMetadata::from_record(f.meta.load_transaction("app").await.unwrap().unwrap()).unwrap();
    let before = (t.producer_id, t.producer_epoch, t.state.name());
    t.end(pid, epoch, true, f.clock.now_ms()).unwrap();
    assert!(f.meta.save_transaction(&t.to_record(), Some(before), &[]).await.unwrap());
    assert_eq!(f.offsets(1).last_stable_offset, 0);
    assert_eq!(f.txns.tick().await, 1);
    assert_eq!(f.state("app").await.2, TxnState::CompleteCommit);
    assert_eq!((f.offsets(1).next_offset, f.offsets(1).last_stable_offset), (3, 3));
    assert_eq!(f.offsets(0).next_offset, 1, "a marker on the partition that saw no data too");
    assert_eq!(f.txns.tick().await, 0, "nothing left to do");
}

#[tokio::test]
async fn requests_are_checked_like_kafka_checks_them() {
    let f = fixture().await;
    assert_eq!(
        code(f.txns.init_producer("app", f.config.transaction_max_timeout_ms + 1, None).await),
        Err(ErrorCode::InvalidTransactionTimeout)
    );
    assert_eq!(code(f.txns.init_producer("app", 0, None).await), Err(ErrorCode::InvalidTransactionTimeout));
    assert_eq!(f.add("never", 1, 0, &[0]).await, Err(ErrorCode::InvalidProducerIdMapping));
    let (pid, epoch) = f.txns.init_producer("app", 60_000, None).await.unwrap();
    assert_eq!(f.add("app", pid + 1, epoch, &[0]).await, Err(ErrorCode::InvalidProducerIdMapping));
    assert_eq!(code(f.txns.end("app", pid, epoch, true).await), Err(ErrorCode::InvalidTxnState), "nothing open");
    assert_eq!(code(f.txns.end("app", pid, epoch, false).await), Ok(()), "aborting nothing is allowed");
    // Data outside the transaction's partitions is refused.
    f.add("app", pid, epoch, &[0]).await.unwrap();
    let err = f.produce(1, pid, epoch, 0, 1).await.unwrap_err();
    assert_eq!(ErrorCode::from(&err), ErrorCode::InvalidTxnState);
    // The verify-only form (KIP-890).
    let verdicts = f.txns.verify_partitions("app", pid, epoch, &[part(0), part(1)]).await.unwrap();
    assert_eq!(verdicts, vec![ErrorCode::None, ErrorCode::InvalidTxnState]);
    // KIP-360: re-initialising with the current id and epoch bumps it.
    let (_, bumped) = f.txns.init_producer("app", 60_000, Some((pid, epoch))).await.unwrap();
    assert_eq!(bumped, epoch + 2, "the open transaction was aborted first");
    assert_eq!(
        code(f.txns.init_producer("app", 60_000, Some((pid, epoch))).await),
        Err(ErrorCode::ProducerFenced),
        "an epoch two behind is not a retry"
    );
    assert_eq!(code(f.txns.init_producer("app", 60_000, Some((pid + 9, 0))).await), Err(ErrorCode::ProducerFenced));
}

#[tokio::test]
async fn idle_transactional_ids_expire() {
    let f = fixture().await;
    let week = f.config.transactional_id_expiration_ms;
    let (pid, epoch) = f.txns.init_producer("idle", 60_000, None).await.unwrap();
    let (busy_pid, busy_epoch) = f.txns.init_producer("busy", 900_000, None).await.unwrap();
    f.add("idle", pid, epoch, &[0]).await.unwrap();
    f.txns.end("idle", pid, epoch, true).await.unwrap();
    f.clock.advance_ms(week - 1_000);
    // "busy" opens a transaction just before the idle one expires.
    f.add("busy", busy_pid, busy_epoch, &[1]).await.unwrap();
    f.clock.advance_ms(2_000);
    assert_eq!(f.txns.tick().await, 1);
    assert_eq!(f.meta.load_transaction("idle").await.unwrap(), None);
    assert_eq!(f.state("busy").await.2, TxnState::Ongoing, "an open transaction is not expired");
    // The id starts over with a new producer id.
    let (new_pid, new_epoch) = f.txns.init_producer("idle", 60_000, None).await.unwrap();
    assert!(new_pid > pid && new_epoch == 0, "{new_pid} {new_epoch}");
}
