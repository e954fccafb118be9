//! Replication as Redis does it: primary/replica state and WAIT bookkeeping, the replica's
//! link to its primary, and the propagation feed that carries every change to replicas
//! and the AOF.

pub(crate) mod failover;
pub(crate) mod feed;
pub(crate) mod fullsync;
pub(crate) mod link;
pub(crate) mod role;
pub(crate) mod state;
pub(crate) mod stream_forms;
