//! The slow log (SLOWLOG GET/LEN/RESET): commands that took at least
//! `slowlog-log-slower-than` microseconds, newest first, at most `slowlog-max-len`, with
//! Redis's truncation so a huge command cannot make the log huge (32 arguments, 128 bytes
//! per argument).

use bytes::Bytes;
use std::collections::VecDeque;

/// Redis's SLOWLOG_ENTRY_MAX_ARGC: later arguments are summarised in the last one.
const MAX_ARGC: usize = 32;
/// Redis's SLOWLOG_ENTRY_MAX_STRING: longer arguments are cut with a note.
const MAX_STRING: usize = 128;

/// One logged command.
#[derive(Debug, Clone)]
pub(crate) struct SlowEntry {
    pub id: u64,
    /// Unix seconds when it was logged.
    pub time: u64,
    /// Microseconds the command took.
    pub duration: u64,
    pub args: Vec<Bytes>,
    /// `ip:port` of the client (`?:0` for a script's commands, as Redis).
    pub peer: String,
    pub name: Bytes,
}

/// The log, newest entry first. Ids keep growing across RESET, as in Redis.
#[derive(Debug, Default)]
pub(crate) struct SlowLog {
    pub entries: VecDeque<SlowEntry>,
    next_id: u64,
}

impl SlowLog {
    /// Logs a command if it was slow enough (`threshold_us` < 0 disables the log), then
    /// trims the log to `max_len`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_if_needed(
        &mut self,
        threshold_us: i64,
        max_len: usize,
        args: &[Bytes],
        duration: u64,
        now_secs: u64,
        peer: String,
        name: Bytes,
    ) {
        if threshold_us < 0 {
            return;
        }
        if duration as i64 >= threshold_us {
            let entry = SlowEntry {
                id: self.next_id,
                time: now_secs,
                duration,
                args: truncate(args),
                peer,
                name,
            };
            self.next_id += 1;
            self.entries.push_front(entry);
        }
        self.entries.truncate(max_len);
    }

    /// SLOWLOG RESET: drops the entries, keeps the id sequence.
    pub(crate) fn reset(&mut self) {
        self.entries.clear();
    }
}

/// The arguments as the log keeps them: at most 32, each at most 128 bytes plus a note.
fn truncate(args: &[Bytes]) -> Vec<Bytes> {
    let keep = args.len().min(MAX_ARGC);
    let mut out = Vec::with_capacity(keep);
    for (j, a) in args.iter().take(keep).enumerate() {
        if keep != args.len() && j == keep - 1 {
            out.push(Bytes::from(format!(
                "... ({} more arguments)",
                args.len() - keep + 1
            )));
        } else if a.len() > MAX_STRING {
            let mut s = a[..MAX_STRING].to_vec();
            s.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes());
            out.push(Bytes::from(s));
        } else {
            out.push(a.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_matches_redis() {
        let args: Vec<Bytes> = (0..40).map(|i| Bytes::from(format!("a{i}"))).collect();
        let t = truncate(&args);
        assert_eq!(t.len(), 32);
        assert_eq!(&t[31][..], b"... (9 more arguments)");
        let long = vec![Bytes::from(vec![b'x'; 200])];
        let t = truncate(&long);
        assert!(t[0].ends_with(b"... (72 more bytes)"));
        assert_eq!(t[0].len(), 128 + "... (72 more bytes)".len());
    }
}
