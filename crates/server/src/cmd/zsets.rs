//! Sorted-set commands (being written).

use super::Command;
use bytes::Bytes;
use rubra_keyspace::ZSet;

pub static COMMANDS: &[Command] = &[];

/// Members and scores in order, for AOF rewrite and snapshots.
pub fn members_with_scores(z: &ZSet) -> Vec<(Bytes, f64)> {
    z.iter().map(|(m, s)| (m.clone(), s)).collect()
}
