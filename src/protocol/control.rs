//! Control batches: the commit and abort markers the transaction
//! coordinator writes into every partition a transaction touched.
//!
//! A marker is a RecordBatch v2 with the transactional and control
//! attribute bits set, the producer's id and epoch, no sequence, and one
//! record whose key is (version 0: i16, type: i16 — 0 abort, 1 commit) and
//! whose value is (version 0: i16, coordinator epoch: i32), as Kafka's
//! EndTransactionMarker.

use bytes::Bytes;

/// Attributes bit 4: part of a transaction; bit 5: a control batch.
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
pub const ATTR_CONTROL: i16 = 0x20;

const MARKER_ABORT: i16 = 0;
const MARKER_COMMIT: i16 = 1;

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// The coordinator epoch markers carry. Coordinators here are not numbered
/// by epoch (a transactional id's coordinator is placed by hash over the
/// live brokers, and a stale one is stopped by the store's compare-and-save),
/// so every marker says 0.
pub const COORDINATOR_EPOCH: i32 = 0;

/// The marker batch ending a transaction of `producer_id`/`producer_epoch`.
pub fn marker_batch(producer_id: i64, producer_epoch: i16, commit: bool, coordinator_epoch: i32, now_ms: i64) -> Bytes {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&(if commit { MARKER_COMMIT } else { MARKER_ABORT }).to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());

    let mut record = vec![0u8]; // attributes
    put_varint(&mut record, 0); // timestamp delta
    put_varint(&mut record, 0); // offset delta
    put_varint(&mut record, key.len() as i64);
    record.extend_from_slice(&key);
    put_varint(&mut record, value.len() as i64);
    record.extend_from_slice(&value);
    put_varint(&mut record, 0); // headers

    let mut b = Vec::with_capacity(61 + record.len() + 1);
    b.extend_from_slice(&0i64.to_be_bytes()); // base offset, patched when read
    b.extend_from_slice(&0i32.to_be_bytes()); // batch length, below
    b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc, below
    b.extend_from_slice(&(ATTR_TRANSACTIONAL | ATTR_CONTROL).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
    b.extend_from_slice(&now_ms.to_be_bytes()); // base timestamp
    b.extend_from_slice(&now_ms.to_be_bytes()); // max timestamp
    b.extend_from_slice(&producer_id.to_be_bytes());
    b.extend_from_slice(&producer_epoch.to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&1i32.to_be_bytes()); // records
    put_varint(&mut b, record.len() as i64);
    b.extend_from_slice(&record);
    let length = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::batch::{read_header, validate_produced_batch, BatchError};

    /// The marker has a well-formed header (and, like Kafka, Produce
    /// refuses control batches from clients) and decodes, with
    /// kafka-protocol's reader, as a control record of the right type.
    #[test]
    fn markers_are_valid_control_batches() {
        for commit in [true, false] {
            let b = marker_batch(4242, 7, commit, 3, 1_700_000_000_000);
            assert!(matches!(validate_produced_batch(&b, 1 << 20), Err(BatchError::ControlBatch)));
            let h = read_header(&b).unwrap();
            assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence, h.records_count), (4242, 7, -1, 1));
            assert_eq!(h.attributes & (ATTR_TRANSACTIONAL | ATTR_CONTROL), ATTR_TRANSACTIONAL | ATTR_CONTROL);

            let mut buf = b.clone();
            let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).unwrap();
            assert_eq!(set.records.len(), 1);
            let r = &set.records[0];
            assert!(r.transactional && r.control);
            assert_eq!((r.producer_id, r.producer_epoch), (4242, 7));
            let key = r.key.as_ref().unwrap();
            assert_eq!(&key[..], &[0, 0, 0, u8::from(commit)]);
            assert_eq!(&r.value.as_ref().unwrap()[..], &[0, 0, 0, 0, 0, 3]);
        }
    }
}
