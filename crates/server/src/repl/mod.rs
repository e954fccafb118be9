//! Replication as Redis does it: primary/replica state and WAIT bookkeeping, the replica's
//! link to its primary, and the propagation feed that carries every change to replicas
//! and the AOF.

pub mod feed;
pub mod link;
pub mod state;
