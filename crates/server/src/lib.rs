//! rubra-server as a library: the binary is a thin `main` over `server::run`, and tests or
//! the simulator can embed the same code.

pub mod alloc;
pub mod aof;
pub mod blocking;
pub mod cli;
pub mod client;
pub mod cluster_bus;
pub mod cluster_conf_file;
pub mod cluster_glue;
pub mod cmd;
pub mod config;
pub mod conn;
pub mod dispatch;
pub mod evict;
pub mod feed;
pub mod jobs;
pub mod pubsub;
pub mod replica_link;
pub mod replication;
pub mod routing;
pub mod saving;
pub mod server;
pub mod snapshot;
pub mod store;
pub mod watch;
