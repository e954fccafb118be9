//! Persistence around the `rubra-persistence` codec: keyspace <-> RDB conversion, SAVE/
//! BGSAVE and start-up loading, background jobs that run off the store lock, and the AOF.

pub mod aof;
pub mod jobs;
pub mod rdb;
pub mod saving;
