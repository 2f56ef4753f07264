//! A structural walk over a request body before the codec decodes it.
//!
//! Why: the `kafka-protocol` crate allocates `Vec::with_capacity(n)` from an
//! array count read off the wire. A 30-byte frame claiming two billion
//! elements would make the broker ask for hundreds of gigabytes and abort.
//! This walk follows the message layout of each served API and version and
//! refuses a body in which any array announces more elements than there are
//! bytes left, or which ends before the layout does. Only then is the body
//! handed to the codec. Bytes after the end of the layout are tolerated, as
//! the Java broker tolerates them (librdkafka 2.16 sends Metadata v12 with
//! three extra bytes); the caller may log them.
//!
//! The layouts below restate the Kafka protocol's message schemas (field
//! order, the versions each field exists in, and from which version a
//! message uses the compact "flexible" encoding with tagged fields). They are
//! checked against the codec in the tests: every version of every served
//! request, encoded by the codec with populated fields, must walk to the
//! exact end.

use kafka_protocol::messages::ApiKey;
use thiserror::Error;

#[derive(Debug, Clone, Copy)]
enum Ty {
    I8,
    I16,
    I32,
    I64,
    Uuid,
    Bool,
    /// String, nullable or not (length -1 / compact 0 means null).
    Str,
    /// Bytes, nullable or not.
    Bytes,
    /// An array of structs.
    Array(&'static [Field]),
    /// An array of scalars or strings.
    ArrayOf(&'static Ty),
}

/// One field of a layout, and the versions that carry it.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    ty: Ty,
    min: i16,
    max: i16,
}

/// A request body's fields in order, with the versions each exists in.
/// The served APIs name theirs in `crate::handlers`' registry.
pub type Layout = &'static [Field];

const fn all(ty: Ty) -> Field {
    Field { ty, min: 0, max: i16::MAX }
}
const fn from(min: i16, ty: Ty) -> Field {
    Field { ty, min, max: i16::MAX }
}
const fn until(max: i16, ty: Ty) -> Field {
    Field { ty, min: 0, max }
}
const fn between(min: i16, max: i16, ty: Ty) -> Field {
    Field { ty, min, max }
}

use Ty::*;

// Produce (flexible from v9).
const PRODUCE_PARTITION: &[Field] = &[all(I32), all(Bytes)];
const PRODUCE_TOPIC: &[Field] = &[until(12, Str), from(13, Uuid), all(Array(PRODUCE_PARTITION))];
pub const PRODUCE: Layout = &[all(Str), all(I16), all(I32), all(Array(PRODUCE_TOPIC))];

// Fetch (flexible from v12).
const FETCH_PARTITION: &[Field] = &[all(I32), from(9, I32), all(I64), from(12, I32), from(5, I64), all(I32)];
const FETCH_TOPIC: &[Field] = &[until(12, Str), from(13, Uuid), all(Array(FETCH_PARTITION))];
const FORGOTTEN_TOPIC: &[Field] = &[between(7, 12, Str), from(13, Uuid), from(7, ArrayOf(&I32))];
pub const FETCH: Layout = &[
    until(14, I32),
    all(I32),
    all(I32),
    from(3, I32),
    from(4, I8),
    from(7, I32),
    from(7, I32),
    all(Array(FETCH_TOPIC)),
    from(7, Array(FORGOTTEN_TOPIC)),
    from(11, Str),
];

// ListOffsets (flexible from v6).
const LIST_OFFSETS_PARTITION: &[Field] = &[all(I32), from(4, I32), all(I64)];
const LIST_OFFSETS_TOPIC: &[Field] = &[all(Str), all(Array(LIST_OFFSETS_PARTITION))];
pub const LIST_OFFSETS: Layout = &[all(I32), from(2, I8), all(Array(LIST_OFFSETS_TOPIC)), from(10, I32)];

// Metadata (flexible from v9).
const METADATA_TOPIC: &[Field] = &[from(10, Uuid), all(Str)];
pub const METADATA: Layout = &[all(Array(METADATA_TOPIC)), from(4, Bool), between(8, 10, Bool), from(8, Bool)];

// FindCoordinator (flexible from v3).
pub const FIND_COORDINATOR: Layout = &[until(3, Str), from(1, I8), from(4, ArrayOf(&Str))];

// ApiVersions (flexible from v3).
pub const API_VERSIONS: Layout = &[from(3, Str), from(3, Str)];

// CreateTopics (flexible from v5).
const CREATABLE_ASSIGNMENT: &[Field] = &[all(I32), all(ArrayOf(&I32))];
const CREATABLE_CONFIG: &[Field] = &[all(Str), all(Str)];
const CREATABLE_TOPIC: &[Field] =
    &[all(Str), all(I32), all(I16), all(Array(CREATABLE_ASSIGNMENT)), all(Array(CREATABLE_CONFIG))];
pub const CREATE_TOPICS: Layout = &[all(Array(CREATABLE_TOPIC)), all(I32), from(1, Bool)];

// DeleteTopics (flexible from v4).
const DELETE_TOPIC_STATE: &[Field] = &[all(Str), all(Uuid)];
pub const DELETE_TOPICS: Layout = &[from(6, Array(DELETE_TOPIC_STATE)), until(5, ArrayOf(&Str)), all(I32)];

// InitProducerId (flexible from v2).
pub const INIT_PRODUCER_ID: Layout = &[all(Str), all(I32), from(3, I64), from(3, I16)];

// DescribeCluster (flexible from v0).
pub const DESCRIBE_CLUSTER: Layout = &[all(Bool), from(1, I8), from(2, Bool)];

// JoinGroup (flexible from v6).
const JOIN_PROTOCOL: &[Field] = &[all(Str), all(Bytes)];
pub const JOIN_GROUP: Layout =
    &[all(Str), all(I32), from(1, I32), all(Str), from(5, Str), all(Str), all(Array(JOIN_PROTOCOL)), from(8, Str)];

// SyncGroup (flexible from v4).
const SYNC_ASSIGNMENT: &[Field] = &[all(Str), all(Bytes)];
pub const SYNC_GROUP: Layout =
    &[all(Str), all(I32), all(Str), from(3, Str), from(5, Str), from(5, Str), all(Array(SYNC_ASSIGNMENT))];

// Heartbeat (flexible from v4).
pub const HEARTBEAT: Layout = &[all(Str), all(I32), all(Str), from(3, Str)];

// LeaveGroup (flexible from v4).
const LEAVE_MEMBER: &[Field] = &[all(Str), all(Str), from(5, Str)];
pub const LEAVE_GROUP: Layout = &[all(Str), until(2, Str), from(3, Array(LEAVE_MEMBER))];

// OffsetCommit (flexible from v8).
const COMMIT_PARTITION: &[Field] = &[all(I32), all(I64), from(6, I32), all(Str)];
const COMMIT_TOPIC: &[Field] = &[all(Str), all(Array(COMMIT_PARTITION))];
pub const OFFSET_COMMIT: Layout =
    &[all(Str), from(1, I32), from(1, Str), from(7, Str), between(2, 4, I64), all(Array(COMMIT_TOPIC))];

// OffsetFetch (flexible from v6).
const FETCH_OFFSETS_TOPIC: &[Field] = &[all(Str), all(ArrayOf(&I32))];
const FETCH_OFFSETS_GROUP: &[Field] = &[all(Str), from(9, Str), from(9, I32), all(Array(FETCH_OFFSETS_TOPIC))];
pub const OFFSET_FETCH: Layout =
    &[until(7, Str), until(7, Array(FETCH_OFFSETS_TOPIC)), from(8, Array(FETCH_OFFSETS_GROUP)), from(7, Bool)];

// DescribeGroups (flexible from v5), ListGroups (v3), DeleteGroups (v2).
pub const DESCRIBE_GROUPS: Layout = &[all(ArrayOf(&Str)), from(3, Bool)];
pub const LIST_GROUPS: Layout = &[from(4, ArrayOf(&Str)), from(5, ArrayOf(&Str))];
pub const DELETE_GROUPS: Layout = &[all(ArrayOf(&Str))];

// OffsetDelete (never flexible).
const OFFSET_DELETE_PARTITION: &[Field] = &[all(I32)];
const OFFSET_DELETE_TOPIC: &[Field] = &[all(Str), all(Array(OFFSET_DELETE_PARTITION))];
pub const OFFSET_DELETE: Layout = &[all(Str), all(Array(OFFSET_DELETE_TOPIC))];

// ConsumerGroupHeartbeat and ConsumerGroupDescribe (KIP-848; flexible
// from v0).
const OWNED_PARTITIONS: &[Field] = &[all(Uuid), all(ArrayOf(&I32))];
pub const CONSUMER_GROUP_HEARTBEAT: Layout = &[
    all(Str),
    all(Str),
    all(I32),
    all(Str),
    all(Str),
    all(I32),
    all(ArrayOf(&Str)),
    from(1, Str),
    all(Str),
    all(Array(OWNED_PARTITIONS)),
];
pub const CONSUMER_GROUP_DESCRIBE: Layout = &[all(ArrayOf(&Str)), all(Bool)];

// AddPartitionsToTxn (flexible from v3). Up to v3 one transaction's topics
// follow its id; from v4 (KIP-890) the body is only an array of
// transactions, each with its own id, producer, verify_only flag and topics.
const ADD_PARTITIONS_TOPIC: &[Field] = &[all(Str), all(ArrayOf(&I32))];
const ADD_PARTITIONS_TRANSACTION: &[Field] =
    &[all(Str), all(I64), all(I16), all(Bool), all(Array(ADD_PARTITIONS_TOPIC))];
pub const ADD_PARTITIONS_TO_TXN: Layout = &[
    from(4, Array(ADD_PARTITIONS_TRANSACTION)),
    until(3, Str),
    until(3, I64),
    until(3, I16),
    until(3, Array(ADD_PARTITIONS_TOPIC)),
];

// AddOffsetsToTxn and EndTxn (both flexible from v3).
pub const ADD_OFFSETS_TO_TXN: Layout = &[all(Str), all(I64), all(I16), all(Str)];
pub const END_TXN: Layout = &[all(Str), all(I64), all(I16), all(Bool)];

// TxnOffsetCommit (flexible from v3; the group member fields came with v3).
const TXN_COMMIT_PARTITION: &[Field] = &[all(I32), all(I64), from(2, I32), all(Str)];
const TXN_COMMIT_TOPIC: &[Field] = &[all(Str), all(Array(TXN_COMMIT_PARTITION))];
pub const TXN_OFFSET_COMMIT: Layout =
    &[all(Str), all(Str), all(I64), all(I16), from(3, I32), from(3, Str), from(3, Str), all(Array(TXN_COMMIT_TOPIC))];

// DescribeProducers, DescribeTransactions and ListTransactions (admin APIs
// of KIP-664; flexible from v0).
const DESCRIBE_PRODUCERS_TOPIC: &[Field] = &[all(Str), all(ArrayOf(&I32))];
pub const DESCRIBE_PRODUCERS: Layout = &[all(Array(DESCRIBE_PRODUCERS_TOPIC))];
pub const DESCRIBE_TRANSACTIONS: Layout = &[all(ArrayOf(&Str))];
pub const LIST_TRANSACTIONS: Layout = &[all(ArrayOf(&Str)), all(ArrayOf(&I64)), from(1, I64), from(2, Str)];

#[derive(Debug, Error, PartialEq, Eq)]
pub enum GuardError {
    #[error("body ends early at byte {at}")]
    Truncated { at: usize },
    #[error("array at byte {at} announces {count} elements with {remaining_bytes} bytes left")]
    CountTooLarge { at: usize, count: u64, remaining_bytes: usize },
    #[error("length at byte {at} is invalid")]
    BadLength { at: usize },
}

struct Walker<'a> {
    buf: &'a [u8],
    at: usize,
    version: i16,
    flexible: bool,
}

impl Walker<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], GuardError> {
        let end =
            self.at.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or(GuardError::Truncated { at: self.at })?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn uvarint(&mut self) -> Result<u64, GuardError> {
        let start = self.at;
        let mut value = 0u64;
        for i in 0..5 {
            let b = self.take(1)?[0];
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(GuardError::BadLength { at: start })
    }

    fn i16(&mut self) -> Result<i16, GuardError> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }

    fn i32(&mut self) -> Result<i32, GuardError> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    /// A length prefix: `None` for null.
    fn length(&mut self, wide: bool) -> Result<Option<usize>, GuardError> {
        let at = self.at;
        if self.flexible {
            let n = self.uvarint()?;
            return Ok(n.checked_sub(1).map(|n| n as usize));
        }
        let n = if wide { i64::from(self.i32()?) } else { i64::from(self.i16()?) };
        match n {
            -1 => Ok(None),
            n if n >= 0 => Ok(Some(n as usize)),
            _ => Err(GuardError::BadLength { at }),
        }
    }

    fn count(&mut self) -> Result<usize, GuardError> {
        let at = self.at;
        let Some(n) = self.length(true)? else {
            return Ok(0);
        };
        let remaining_bytes = self.buf.len() - self.at;
        if n > remaining_bytes {
            return Err(GuardError::CountTooLarge { at, count: n as u64, remaining_bytes });
        }
        Ok(n)
    }

    fn value(&mut self, ty: &Ty) -> Result<(), GuardError> {
        match ty {
            I8 | Bool => self.take(1).map(drop),
            I16 => self.take(2).map(drop),
            I32 => self.take(4).map(drop),
            I64 => self.take(8).map(drop),
            Uuid => self.take(16).map(drop),
            Str => {
                let n = self.length(false)?;
                self.take(n.unwrap_or(0)).map(drop)
            }
            Bytes => {
                let n = self.length(true)?;
                self.take(n.unwrap_or(0)).map(drop)
            }
            Array(fields) => {
                for _ in 0..self.count()? {
                    self.fields(fields)?;
                }
                Ok(())
            }
            ArrayOf(inner) => {
                for _ in 0..self.count()? {
                    self.value(inner)?;
                }
                Ok(())
            }
        }
    }

    fn fields(&mut self, fields: &[Field]) -> Result<(), GuardError> {
        let version = self.version;
        for f in fields.iter().filter(|f| (f.min..=f.max).contains(&version)) {
            self.value(&f.ty)?;
        }
        if self.flexible {
            self.tagged_fields()?;
        }
        Ok(())
    }

    /// Tagged fields are skipped by their explicit sizes.
    fn tagged_fields(&mut self) -> Result<(), GuardError> {
        let at = self.at;
        let n = self.uvarint()? as usize;
        if n > self.buf.len() - self.at {
            return Err(GuardError::CountTooLarge { at, count: n as u64, remaining_bytes: self.buf.len() - self.at });
        }
        for _ in 0..n {
            self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }
}

/// Checks that `body` (the request after its header) is a well-formed
/// `api` request of `version` laid out as `layout`, whose every array count
/// is backed by bytes. A request uses the compact "flexible" encoding
/// exactly when its header is v2. Returns how many bytes follow the end of
/// the layout.
pub fn check_request(api: ApiKey, version: i16, layout: Layout, body: &[u8]) -> Result<usize, GuardError> {
    let flexible = api.request_header_version(version) >= 2;
    let mut w = Walker { buf: body, at: 0, version, flexible };
    w.fields(layout)?;
    Ok(body.len() - w.at)
}

#[cfg(test)]
pub mod samples;
#[cfg(test)]
mod tests;
