//! Cluster mode around the sans-I/O core in `rubra-cluster`: the bus transport, the
//! driver that applies the core's outputs to this node, the routing table requests are
//! checked against, and nodes.conf on disk.

pub(crate) mod bus;
pub(crate) mod driver;
pub(crate) mod migration;
pub(crate) mod migration_send;
pub(crate) mod nodes_file;
pub(crate) mod routing;
pub(crate) mod slot_tap;
