//! StreamHouse: a broker that speaks the Kafka wire protocol and keeps its
//! record batches in an object store and its offset index in a SQL store.
//!
//! Module map (dependencies point downwards only):
//!
//! - [`server`]: TCP listener with a connection cap, framing, in-order responses.
//! - [`handlers`]: one file per Kafka API and the registry ApiVersions is built from.
//! - [`log`]: the storage engine — group-commit writer, reader, object format, caches.
//! - [`object_store`] / [`metadata`]: the two storage traits and their backends.
//! - [`protocol`]: pure code — RecordBatch v2 views, record scanning, Kafka error codes.
//! - [`config`]: raw settings turned into a validated, immutable [`config::Config`].
//! - [`metrics`]: the Prometheus endpoint and metric names.
//! - [`broker`]: the only place where concrete stores, clocks and config meet.

pub mod broker;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod group;
pub mod handlers;
pub mod log;
pub mod metadata;
pub mod metrics;
pub mod object_store;
pub mod producer;
pub mod protocol;
pub mod server;
pub mod topics;
pub mod txn;
