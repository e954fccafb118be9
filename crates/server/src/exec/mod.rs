//! Command execution: the one dispatch path every command takes, and the state it keeps
//! around commands — blocked clients, WATCHed keys, eviction under maxmemory, pub/sub
//! subscriptions.

pub(crate) mod blocking;
pub(crate) mod client_evict;
pub(crate) mod dispatch;
pub(crate) mod evict;
pub(crate) mod latency;
pub(crate) mod lazyfree;
pub(crate) mod monitor;
pub(crate) mod notify;
pub(crate) mod notify_events;
pub(crate) mod observe;
pub(crate) mod protected;
pub(crate) mod pubsub;
pub(crate) mod sessions;
pub(crate) mod slowlog;
pub(crate) mod stats;
pub(crate) mod tracking;
pub(crate) mod watch;
