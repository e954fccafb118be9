//! Helpers shared by the persistence test files.

use rubra_persistence::RdbValue;

/// Order-insensitive form of a value (sets, hashes and sorted sets sorted by member), so
/// two values compare equal whatever order a writer or a server emitted them in.
pub(crate) fn normalize(v: &RdbValue) -> RdbValue {
    match v {
        RdbValue::Set(m) => {
            let mut m = m.clone();
            m.sort();
            RdbValue::Set(m)
        }
        RdbValue::Hash(p) => {
            let mut p = p.clone();
            p.sort();
            RdbValue::Hash(p)
        }
        RdbValue::ZSet(p) => {
            let mut p = p.clone();
            p.sort_by(|a, b| a.0.cmp(&b.0));
            RdbValue::ZSet(p)
        }
        other => other.clone(),
    }
}
