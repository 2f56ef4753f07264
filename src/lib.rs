//! StreamHouse: a broker that speaks the Kafka wire protocol and keeps its
//! record batches in an object store and its offset index in a SQL store.
//!
//! Module map, from the socket down (a module uses only those below it):
//!
//! - [`server`]: TCP listener with a connection cap, framing, in-order responses.
//! - [`handlers`]: one file per Kafka API, the registry that dispatch,
//!   ApiVersions and the wire guard's table derive from, and
//!   `handlers::errors`, the one place internal errors become Kafka codes.
//! - [`group`]: the group coordinator (classic protocol and KIP-848).
//! - [`txn`]: the transaction coordinator and its state machine.
//! - [`topics`]: the one owner of topics — creation, deletion, configs, and
//!   the changes other brokers make.
//! - [`log`]: the storage engine — group-commit writer, the append rules a
//!   commit applies, reader, object format, cache, merge, retention, GC.
//! - [`producer`]: the idempotent-producer sequence rules (pure).
//! - [`cluster`]: broker membership, placement of coordinators and partition
//!   leaders.
//! - [`metadata`] / [`object_store`]: the storage traits and their backends;
//!   the metadata store is split by concern into small traits.
//! - [`protocol`]: pure code — RecordBatch v2 views, record scanning,
//!   control batches, topic names, the wire guard, Kafka error codes.
//!   Imports nothing else of the crate.
//! - [`config`]: raw settings turned into a validated, immutable
//!   [`config::Config`]; `config::limits` holds every bound.
//! - [`metrics`]: the Prometheus endpoint and metric names.
//! - [`clock`]: injected time.
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
