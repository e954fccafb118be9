//! rubra: the operator tool for a Redis-Cluster-compatible cluster.
//!
//! It talks to nodes only over RESP (the commands `redis-cli --cluster` uses), so it
//! manages rubra-server and real Redis nodes alike. See `cli` for the commands.

pub mod acl;
pub mod api;
pub mod atomic;
pub mod autoscale;
pub mod backup;
pub mod check;
pub mod cli;
pub mod ctx;
pub mod docker;
pub mod failover;
pub mod form;
pub mod httpc;
pub mod migrate;
pub mod node_entry;
pub mod panel;
pub mod password;
pub mod placement;
pub mod ports;
pub mod procs;
pub mod resp;
pub mod runtime_cli;
pub mod state;
pub mod status;
pub mod supervisor;
pub mod tls;
pub mod tlsgen;
pub mod topology;
