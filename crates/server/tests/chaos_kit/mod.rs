//! Parts of the chaos suite (tests/chaos.rs): clients and their history, the cluster
//! under test, faults, resharding, and the checker with its report.

pub(crate) mod check;
pub(crate) mod client;
pub(crate) mod faults;
pub(crate) mod nodes;
pub(crate) mod reshard;
