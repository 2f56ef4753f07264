//! Pure protocol code: no I/O, no storage, no tokio.
//!
//! - [`batch`]: a validated view of one RecordBatch v2 (bounds, magic, CRC-32C,
//!   offset patching).
//! - [`records`]: walking the records inside a batch (with a decompression
//!   budget) for the few places that must look inside: exact timestamp lookups.
//! - [`error_code`]: the only place internal errors become Kafka error codes.
//! - [`names`]: topic name rules.

pub mod batch;
pub mod control;
pub mod error_code;
pub mod names;
pub mod records;
pub mod wire_guard;

pub use error_code::ErrorCode;
