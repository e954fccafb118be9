//! Sans-I/O Redis Cluster core for Rubra.
//!
//! Nothing here touches sockets, clocks or threads: the server feeds bus bytes, the time
//! (`now_ms`) and replication offsets in, and acts on the [`Output`]s that come back. That
//! lets the simulator in `tests/` drive many nodes deterministically from one seed.
//!
//! Modules, one job each:
//! - [`wire`]: the bus message format (Redis 7.0 `clusterMsg`, byte compatible).
//! - [`state`]: the node table, slot map, epochs and failure reports.
//! - [`slots`]: the slot map itself, with per-owner summaries kept current.
//! - [`conf`]: `nodes.conf` / `CLUSTER NODES` text, both directions.
//! - [`views`]: CLUSTER SLOTS / SHARDS / INFO data as plain Rust values.
//! - [`node`]: the state machine (`step`, `tick`), with [`admin`] and [`failover`] beside it.
//! - [`pubsub`]: PUBLISH / SPUBLISH fan-out over the bus.
//! - [`redirect`]: whether a request runs here, or MOVED/ASK/TRYAGAIN/CROSSSLOT/CLUSTERDOWN.

pub mod admin;
mod clock;
pub mod failover;
pub mod migrate;
pub mod node;
pub mod node_lines;
pub mod pubsub;
mod receive;
pub mod redirect;
pub mod slots;
pub mod state;
pub mod views;
pub mod wire;

pub use admin::{BumpResult, ClusterError, FailoverMode};
pub use clock::WRITABLE_DELAY_MS;
pub use node::{Addr, Node, NodeConfig, Output};
pub use slots::SlotTable;
pub use state::{ClusterState, NodeInfo};
pub use wire::{Message, MsgType, NodeId, SlotBitmap};

/// Re-exported so callers need one crate for slot maths.
pub use rubra_keys::{crc16, key_slot, SLOT_COUNT};
