//! A view of one RecordBatch (magic 2) as it arrives in a Produce request.
//!
//! Layout (big-endian), from the Kafka protocol documentation:
//!
//! ```text
//!  0 baseOffset i64        27 baseTimestamp i64
//!  8 batchLength i32       35 maxTimestamp i64
//! 12 partitionLeaderEpoch  43 producerId i64
//! 16 magic i8              51 producerEpoch i16
//! 17 crc u32 (CRC-32C of   53 baseSequence i32
//!    bytes 21..end)        57 recordsCount i32
//! 21 attributes i16        61 records…
//! 23 lastOffsetDelta i32
//! ```
//!
//! The broker stores batches as sent. Only the first 8 bytes (baseOffset)
//! and bytes 12..16 (partitionLeaderEpoch) are rewritten when serving; the
//! CRC does not cover them, so patching needs no re-checksum.

use thiserror::Error;

pub const BATCH_HEADER_BYTES: usize = 61;
const LENGTH_FIELD_END: usize = 12;
const CRC_COVERED_FROM: usize = 21;

/// Smallest possible encoded record: length, attributes, timestamp delta,
/// offset delta, key length, value length and header count, one byte each.
pub const RECORD_BYTES_MIN: usize = 7;

/// Compression codecs (attributes bits 0..2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    fn from_attributes(attributes: i16) -> Result<Self, BatchError> {
        match attributes & 0x07 {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            codec => Err(BatchError::UnknownCompression { codec }),
        }
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BatchError {
    #[error("record batch is {size_bytes} bytes, shorter than the 61-byte header")]
    TooShort { size_bytes: usize },
    #[error("batchLength says {declared_bytes} bytes but {actual_bytes} bytes arrived")]
    LengthMismatch { declared_bytes: usize, actual_bytes: usize },
    #[error("partition data holds more than one batch ({declared_bytes} of {actual_bytes} bytes in the first)")]
    NotOneBatch { declared_bytes: usize, actual_bytes: usize },
    #[error("magic byte {magic}, only 2 is accepted")]
    Magic { magic: i8 },
    #[error("CRC-32C mismatch: batch says {stored:#010x}, content gives {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("recordsCount {count} does not fit lastOffsetDelta {last_offset_delta} or the bytes present")]
    RecordCount { count: i32, last_offset_delta: i32 },
    #[error("record framing is broken: {detail}")]
    RecordFraming { detail: &'static str },
    #[error("batch of {size_bytes} bytes exceeds max.message.bytes {max_bytes}")]
    TooLarge { size_bytes: usize, max_bytes: usize },
    #[error("unknown compression codec {codec}")]
    UnknownCompression { codec: i16 },
    #[error("control batches cannot be produced by clients")]
    ControlBatch,
    #[error("decompression failed: {detail}")]
    Decompress { detail: String },
    #[error("record {index} has offset delta {found}, expected {index}")]
    InnerOffsets { index: usize, found: i64 },
}

/// The parsed, validated header of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub size_bytes: usize,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    pub fn compression(&self) -> Compression {
        // Validated in `validate_produced_batch`.
        Compression::from_attributes(self.attributes).unwrap_or(Compression::None)
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & 0x08 != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Reads the header of a batch that is already known to be well formed
/// (for example one read back from the object store).
pub fn read_header(b: &[u8]) -> Result<BatchHeader, BatchError> {
    if b.len() < BATCH_HEADER_BYTES {
        return Err(BatchError::TooShort { size_bytes: b.len() });
    }
    let declared = i32_at(b, 8);
    let size_bytes = usize::try_from(declared)
        .ok()
        .and_then(|d| d.checked_add(LENGTH_FIELD_END))
        .ok_or(BatchError::LengthMismatch { declared_bytes: 0, actual_bytes: b.len() })?;
    if size_bytes > b.len() {
        return Err(BatchError::LengthMismatch { declared_bytes: size_bytes, actual_bytes: b.len() });
    }
    let magic = b[16] as i8;
    if magic != 2 {
        return Err(BatchError::Magic { magic });
    }
    Ok(BatchHeader {
        size_bytes,
        attributes: i16_at(b, 21),
        last_offset_delta: i32_at(b, 23),
        base_timestamp: i64_at(b, 27),
        max_timestamp: i64_at(b, 35),
        producer_id: i64_at(b, 43),
        producer_epoch: i16_at(b, 51),
        base_sequence: i32_at(b, 53),
        records_count: i32_at(b, 57),
    })
}

/// Validates the records of one partition in a Produce request (v3+): exactly
/// one batch, magic 2, CRC-32C, a record count consistent with the offset
/// delta and — for uncompressed batches — with the record framing actually
/// present, and the size limit. Nothing is allocated from wire counts.
pub fn validate_produced_batch(b: &[u8], message_bytes_max: usize) -> Result<BatchHeader, BatchError> {
    let header = read_header(b)?;
    if header.size_bytes < BATCH_HEADER_BYTES {
        return Err(BatchError::TooShort { size_bytes: header.size_bytes });
    }
    if header.size_bytes != b.len() {
        return Err(BatchError::NotOneBatch { declared_bytes: header.size_bytes, actual_bytes: b.len() });
    }
    if header.size_bytes > message_bytes_max {
        return Err(BatchError::TooLarge { size_bytes: header.size_bytes, max_bytes: message_bytes_max });
    }
    let stored = u32::from_be_bytes(b[17..21].try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(&b[CRC_COVERED_FROM..]);
    if stored != computed {
        return Err(BatchError::CrcMismatch { stored, computed });
    }
    Compression::from_attributes(header.attributes)?;
    if header.is_control() {
        return Err(BatchError::ControlBatch);
    }
    let count = header.records_count;
    let payload_bytes = b.len() - BATCH_HEADER_BYTES;
    let count_ok = count >= 1
        && header.last_offset_delta == count - 1
        && (header.compression() != Compression::None || (count as usize) <= payload_bytes / RECORD_BYTES_MIN);
    if !count_ok {
        return Err(BatchError::RecordCount { count, last_offset_delta: header.last_offset_delta });
    }
    if header.compression() == Compression::None {
        check_record_framing(&b[BATCH_HEADER_BYTES..], count as usize)?;
    }
    Ok(header)
}

/// Reads a zig-zag varint (as Kafka records encode lengths and deltas).
/// Returns the value and the number of bytes it took.
pub fn read_varint(b: &[u8]) -> Option<(i64, usize)> {
    let mut raw: u64 = 0;
    for (i, byte) in b.iter().enumerate().take(10) {
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let value = ((raw >> 1) as i64) ^ -((raw & 1) as i64);
            return Some((value, i + 1));
        }
    }
    None
}

/// Walks the length prefixes of uncompressed records: exactly `count`
/// records must fill the payload exactly.
fn check_record_framing(mut payload: &[u8], count: usize) -> Result<(), BatchError> {
    for _ in 0..count {
        let (len, used) =
            read_varint(payload).ok_or(BatchError::RecordFraming { detail: "truncated record length" })?;
        let len = usize::try_from(len).map_err(|_| BatchError::RecordFraming { detail: "negative record length" })?;
        let end = used
            .checked_add(len)
            .filter(|end| *end <= payload.len())
            .ok_or(BatchError::RecordFraming { detail: "record runs past the batch" })?;
        payload = &payload[end..];
    }
    if !payload.is_empty() {
        return Err(BatchError::RecordFraming { detail: "bytes left after the last record" });
    }
    Ok(())
}

/// Rewrites the offset-assignment fields of a stored batch for serving:
/// baseOffset and partitionLeaderEpoch, neither covered by the CRC.
pub fn patch_for_fetch(b: &mut [u8], base_offset: i64, leader_epoch: i32) {
    debug_assert!(b.len() >= BATCH_HEADER_BYTES);
    b[0..8].copy_from_slice(&base_offset.to_be_bytes());
    b[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Turns a CreateTime batch into a LogAppendTime one (topic config
/// `message.timestamp.type=LogAppendTime`): sets the attribute bit and the
/// max timestamp, then recomputes the CRC, as the Java broker does.
pub fn stamp_log_append_time(b: &mut [u8], now_ms: i64) {
    debug_assert!(b.len() >= BATCH_HEADER_BYTES);
    let attributes = i16_at(b, 21) | 0x08;
    b[21..23].copy_from_slice(&attributes.to_be_bytes());
    b[35..43].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&b[CRC_COVERED_FROM..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds an uncompressed batch of `values` for tests, with
    /// timestamps `base_ts + i`.
    pub fn build_batch(values: &[&[u8]], base_ts: i64) -> Vec<u8> {
        let mut records = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let mut r = Vec::new();
            r.push(0u8); // attributes
            put_varint(&mut r, i as i64); // timestamp delta
            put_varint(&mut r, i as i64); // offset delta
            put_varint(&mut r, -1); // null key
            put_varint(&mut r, v.len() as i64);
            r.extend_from_slice(v);
            put_varint(&mut r, 0); // no headers
            put_varint(&mut records, r.len() as i64);
            records.extend_from_slice(&r);
        }
        let n = values.len() as i32;
        let mut b = Vec::new();
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes()); // length, fixed below
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.push(2);
        b.extend_from_slice(&0u32.to_be_bytes()); // crc, fixed below
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&(n - 1).to_be_bytes());
        b.extend_from_slice(&base_ts.to_be_bytes());
        b.extend_from_slice(&(base_ts + n as i64 - 1).to_be_bytes());
        b.extend_from_slice(&(-1i64).to_be_bytes());
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&n.to_be_bytes());
        b.extend_from_slice(&records);
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    pub fn put_varint(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        loop {
            if z < 0x80 {
                out.push(z as u8);
                return;
            }
            out.push((z as u8 & 0x7f) | 0x80);
            z >>= 7;
        }
    }

    #[test]
    fn a_well_formed_batch_validates() {
        let b = build_batch(&[b"a", b"bb", b"ccc"], 1000);
        let h = validate_produced_batch(&b, 1 << 20).unwrap();
        assert_eq!(h.records_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.base_timestamp, 1000);
        assert_eq!(h.max_timestamp, 1002);
        assert_eq!(h.size_bytes, b.len());
    }

    #[test]
    fn a_flipped_bit_fails_the_crc() {
        let mut b = build_batch(&[b"hello"], 0);
        let last = b.len() - 2;
        b[last] ^= 1;
        assert!(matches!(validate_produced_batch(&b, 1 << 20), Err(BatchError::CrcMismatch { .. })));
    }

    #[test]
    fn wrong_lengths_are_refused_without_panicking() {
        let b = build_batch(&[b"hello"], 0);
        assert!(matches!(validate_produced_batch(&b[..40], 1 << 20), Err(BatchError::TooShort { .. })));
        assert!(matches!(validate_produced_batch(&b[..b.len() - 1], 1 << 20), Err(BatchError::LengthMismatch { .. })));
        let mut two = b.clone();
        two.extend_from_slice(&b);
        assert!(matches!(validate_produced_batch(&two, 1 << 20), Err(BatchError::NotOneBatch { .. })));
        let mut negative = b.clone();
        negative[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(validate_produced_batch(&negative, 1 << 20).is_err());
    }

    #[test]
    fn record_count_must_match_the_bytes_present() {
        let mut b = build_batch(&[b"x", b"y"], 0);
        // Claim a million records: must be refused before anything trusts it.
        b[57..61].copy_from_slice(&1_000_000i32.to_be_bytes());
        b[23..27].copy_from_slice(&999_999i32.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(validate_produced_batch(&b, 1 << 20), Err(BatchError::RecordCount { .. })));
    }

    #[test]
    fn size_limit_and_magic() {
        let b = build_batch(&[&[7u8; 100]], 0);
        assert!(matches!(validate_produced_batch(&b, 50), Err(BatchError::TooLarge { .. })));
        let mut m = b.clone();
        m[16] = 1;
        assert!(matches!(validate_produced_batch(&m, 1 << 20), Err(BatchError::Magic { magic: 1 })));
    }

    #[test]
    fn patching_keeps_the_crc_valid() {
        let mut b = build_batch(&[b"p"], 5);
        patch_for_fetch(&mut b, 4242, 0);
        assert_eq!(i64_at(&b, 0), 4242);
        validate_produced_batch(&b, 1 << 20).unwrap();
        stamp_log_append_time(&mut b, 99);
        let h = validate_produced_batch(&b, 1 << 20).unwrap();
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 99);
    }
}
