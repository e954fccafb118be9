//! Persistence around the `rubra-persistence` codec: keyspace <-> RDB conversion, SAVE/
//! BGSAVE and start-up loading, background jobs that run off the store lock, and the multi-part AOF.

pub(crate) mod aof;
pub(crate) mod aof_files;
pub(crate) mod jobs;
pub(crate) mod manifest;
pub(crate) mod rdb;
pub(crate) mod save_control;
pub(crate) mod saving;
