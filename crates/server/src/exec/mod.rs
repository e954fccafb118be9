//! Command execution: the one dispatch path every command takes, and the state it keeps
//! around commands — blocked clients, WATCHed keys, eviction under maxmemory, pub/sub
//! subscriptions.

pub mod blocking;
pub mod dispatch;
pub mod evict;
pub mod pubsub;
pub mod watch;
