//! The layout of one object: the batches of one flush, many partitions,
//! followed by a footer that indexes them. Specified in
//! `docs/design/0001-object-format.md`.
//!
//! Readers normally find byte ranges through the offset index in the
//! metadata store and never read the footer; the footer makes an object
//! self-describing for recovery tools, merging and garbage collection.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;
use uuid::Uuid;

pub const MAGIC: &[u8; 4] = b"SHOB";
pub const FORMAT_VERSION: u16 = 1;
pub const ENTRY_BYTES: usize = 66;
pub const TRAILER_BYTES: usize = 24;

/// One batch's entry in the footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FooterEntry {
    pub topic_id: Uuid,
    pub partition: i32,
    pub position: u64,
    pub length: u32,
    pub offset_count: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("object of {size_bytes} bytes is too short for a footer")]
    TooShort { size_bytes: usize },
    #[error("object does not end with the StreamHouse magic")]
    Magic,
    #[error("object format version {version} is newer than this broker understands ({FORMAT_VERSION})")]
    Version { version: u16 },
    #[error("footer is inconsistent: {detail}")]
    Footer { detail: &'static str },
    #[error("footer CRC-32C mismatch")]
    Crc,
}

/// Builds an object from batches, computing each batch's position.
pub struct ObjectBuilder {
    buf: BytesMut,
    entries: Vec<FooterEntry>,
}

/// What a batch needs to be placed in an object.
pub struct BatchPlacement<'a> {
    pub topic_id: Uuid,
    pub partition: i32,
    pub bytes: &'a [u8],
    pub offset_count: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl ObjectBuilder {
    pub fn with_capacity(batch_bytes: usize, batches: usize) -> Self {
        let footer = batches * ENTRY_BYTES + TRAILER_BYTES;
        Self { buf: BytesMut::with_capacity(batch_bytes + footer), entries: Vec::with_capacity(batches) }
    }

    /// Appends a batch and returns its entry.
    pub fn push(&mut self, b: BatchPlacement<'_>) -> FooterEntry {
        let entry = FooterEntry {
            topic_id: b.topic_id,
            partition: b.partition,
            position: self.buf.len() as u64,
            length: u32::try_from(b.bytes.len()).expect("batches are bounded by the request size"),
            offset_count: b.offset_count,
            base_timestamp: b.base_timestamp,
            max_timestamp: b.max_timestamp,
            producer_id: b.producer_id,
            producer_epoch: b.producer_epoch,
            base_sequence: b.base_sequence,
        };
        self.buf.put_slice(b.bytes);
        self.entries.push(entry);
        entry
    }

    /// Appends the footer and returns the object.
    pub fn finish(mut self) -> (Bytes, Vec<FooterEntry>) {
        let entries_offset = self.buf.len() as u64;
        for e in &self.entries {
            self.buf.put_slice(e.topic_id.as_bytes());
            self.buf.put_i32(e.partition);
            self.buf.put_u64(e.position);
            self.buf.put_u32(e.length);
            self.buf.put_i32(e.offset_count);
            self.buf.put_i64(e.base_timestamp);
            self.buf.put_i64(e.max_timestamp);
            self.buf.put_i64(e.producer_id);
            self.buf.put_i16(e.producer_epoch);
            self.buf.put_i32(e.base_sequence);
        }
        let crc = crc32c::crc32c(&self.buf[entries_offset as usize..]);
        self.buf.put_u64(entries_offset);
        self.buf.put_u32(self.entries.len() as u32);
        self.buf.put_u32(crc);
        self.buf.put_u16(FORMAT_VERSION);
        self.buf.put_u16(0);
        self.buf.put_slice(MAGIC);
        (self.buf.freeze(), self.entries)
    }
}

fn be<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b[at..at + N].try_into().expect("length checked by caller")
}

/// Reads and checks the footer of a whole object.
pub fn read_footer(object: &[u8]) -> Result<Vec<FooterEntry>, FormatError> {
    let size_bytes = object.len();
    if size_bytes < TRAILER_BYTES {
        return Err(FormatError::TooShort { size_bytes });
    }
    let t = &object[size_bytes - TRAILER_BYTES..];
    if &t[20..24] != MAGIC {
        return Err(FormatError::Magic);
    }
    let version = u16::from_be_bytes(be(t, 16));
    if version > FORMAT_VERSION {
        return Err(FormatError::Version { version });
    }
    let entries_offset =
        usize::try_from(u64::from_be_bytes(be(t, 0))).map_err(|_| FormatError::Footer { detail: "offset" })?;
    let count = u32::from_be_bytes(be(t, 8)) as usize;
    let crc = u32::from_be_bytes(be(t, 12));
    let entries_end = size_bytes - TRAILER_BYTES;
    let expected_len = count.checked_mul(ENTRY_BYTES).ok_or(FormatError::Footer { detail: "count" })?;
    if entries_offset > entries_end || entries_end - entries_offset != expected_len {
        return Err(FormatError::Footer { detail: "entry count does not match the footer size" });
    }
    let raw = &object[entries_offset..entries_end];
    if crc32c::crc32c(raw) != crc {
        return Err(FormatError::Crc);
    }
    let entries: Vec<FooterEntry> = raw
        .chunks_exact(ENTRY_BYTES)
        .map(|e| FooterEntry {
            topic_id: Uuid::from_bytes(be(e, 0)),
            partition: i32::from_be_bytes(be(e, 16)),
            position: u64::from_be_bytes(be(e, 20)),
            length: u32::from_be_bytes(be(e, 28)),
            offset_count: i32::from_be_bytes(be(e, 32)),
            base_timestamp: i64::from_be_bytes(be(e, 36)),
            max_timestamp: i64::from_be_bytes(be(e, 44)),
            producer_id: i64::from_be_bytes(be(e, 52)),
            producer_epoch: i16::from_be_bytes(be(e, 60)),
            base_sequence: i32::from_be_bytes(be(e, 62)),
        })
        .collect();
    for e in &entries {
        let end = e.position.checked_add(u64::from(e.length));
        if end.is_none_or(|end| end > entries_offset as u64) {
            return Err(FormatError::Footer { detail: "entry points past the batch section" });
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement(topic_id: Uuid, partition: i32, bytes: &[u8]) -> BatchPlacement<'_> {
        BatchPlacement {
            topic_id,
            partition,
            bytes,
            offset_count: 2,
            base_timestamp: 10,
            max_timestamp: 11,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
        }
    }

    #[test]
    fn footer_round_trips() {
        let t = Uuid::new_v4();
        let mut b = ObjectBuilder::with_capacity(10, 2);
        b.push(placement(t, 0, b"aaaa"));
        b.push(placement(t, 7, b"bbbbbb"));
        let (object, entries) = b.finish();
        assert_eq!(object.len(), 10 + 2 * ENTRY_BYTES + TRAILER_BYTES);
        assert_eq!(entries[1].position, 4);
        assert_eq!(entries[1].length, 6);
        assert_eq!(read_footer(&object).unwrap(), entries);
        assert_eq!(&object[4..10], b"bbbbbb");
    }

    #[test]
    fn damage_is_detected() {
        let mut b = ObjectBuilder::with_capacity(4, 1);
        b.push(placement(Uuid::new_v4(), 0, b"aaaa"));
        let (object, _) = b.finish();
        let mut bad = object.to_vec();
        bad[6] ^= 0xff;
        assert_eq!(read_footer(&bad), Err(FormatError::Crc));
        assert_eq!(read_footer(&object[..10]), Err(FormatError::TooShort { size_bytes: 10 }));
        let mut newer = object.to_vec();
        let v = newer.len() - 8;
        newer[v..v + 2].copy_from_slice(&9u16.to_be_bytes());
        assert_eq!(read_footer(&newer), Err(FormatError::Version { version: 9 }));
        let empty = ObjectBuilder::with_capacity(0, 0).finish().0;
        assert_eq!(read_footer(&empty).unwrap(), vec![]);
    }
}
