//! The propagation feed: every change is turned into the command that reproduces it and
//! appended, as RESP, to the replication stream (with its backlog for partial resyncs) and to
//! the append-only file. One feed for both means a replica and a restarted node replay
//! exactly the same history, as in Redis.

use bytes::Bytes;
use rubra_resp::encode_request;
use std::collections::VecDeque;

/// Replication ids are 40 hex characters.
pub(crate) const REPLID_LEN: usize = 40;

/// The feed's state.
pub(crate) struct Feed {
    /// Current replication id and the offset of the last byte produced.
    pub replid: String,
    /// The previous id and the offset up to which it is valid (after a promotion), so
    /// former siblings can continue partially (PSYNC2).
    pub replid2: String,
    pub second_offset: i64,
    pub offset: u64,
    backlog: VecDeque<u8>,
    backlog_size: usize,
    /// The database the stream last SELECTed; None forces a SELECT before the next command.
    stream_db: Option<usize>,
    /// Bytes produced since the last `take_output`, for replicas and the AOF.
    pending: Vec<u8>,
    /// Whether anything is listening (replicas, AOF); if not, nothing is encoded.
    pub active: bool,
    /// Set while applying our primary's stream: its bytes are mirrored verbatim with
    /// `emit_raw` (same offsets as the primary), so commands are not propagated again.
    pub mirror_mode: bool,
    /// Inside EXEC: the MULTI is emitted lazily with the first write.
    in_exec: bool,
    exec_emitted: bool,
}

impl Feed {
    /// A new feed with a fresh replication id.
    pub(crate) fn new(replid: String, backlog_size: usize) -> Feed {
        Feed {
            replid,
            replid2: "0".repeat(REPLID_LEN),
            second_offset: -1,
            offset: 0,
            backlog: VecDeque::new(),
            backlog_size: backlog_size.max(16 * 1024),
            stream_db: None,
            pending: Vec::new(),
            active: false,
            mirror_mode: false,
            in_exec: false,
            exec_emitted: false,
        }
    }

    /// Appends one command, as executed in database `db`.
    pub(crate) fn propagate(&mut self, db: usize, args: &[Bytes]) {
        if !self.active || self.mirror_mode {
            return;
        }
        if self.in_exec && !self.exec_emitted {
            self.exec_emitted = true;
            self.emit(&[Bytes::from_static(b"MULTI")]);
        }
        if self.stream_db != Some(db) {
            self.stream_db = Some(db);
            self.emit(&[Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())]);
        }
        self.emit(args);
    }

    /// Marks the start of EXEC: writes inside are wrapped in MULTI/EXEC for atomicity.
    pub(crate) fn begin_exec(&mut self) {
        if self.mirror_mode {
            return;
        }
        self.in_exec = true;
        self.exec_emitted = false;
    }

    /// Whether an EXEC (or a script) is already wrapping commands in MULTI/EXEC.
    pub(crate) fn in_exec(&self) -> bool {
        self.in_exec
    }

    /// Marks the end of EXEC.
    pub(crate) fn end_exec(&mut self) {
        if self.exec_emitted {
            self.emit(&[Bytes::from_static(b"EXEC")]);
        }
        self.in_exec = false;
        self.exec_emitted = false;
    }

    /// Appends raw stream bytes (a PING to replicas, for example).
    pub(crate) fn emit_raw(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        self.offset += bytes.len() as u64;
        self.backlog.extend(bytes.iter().copied());
        let excess = self.backlog.len().saturating_sub(self.backlog_size);
        if excess > 0 {
            self.backlog.drain(..excess);
        }
    }

    fn emit(&mut self, args: &[Bytes]) {
        let mut buf = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
        encode_request(&mut buf, args);
        self.emit_raw(&buf);
    }

    /// Takes the bytes produced since the last call (sent to replicas and the AOF).
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    /// Whether bytes are waiting for `take_output`.
    pub(crate) fn has_output(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The backlog bytes after `offset`, if the backlog still holds all of them (partial
    /// resync possible), for `replid` or the previous id up to `second_offset`.
    pub(crate) fn backlog_from(&self, replid: &str, offset: u64) -> Option<Vec<u8>> {
        let id_ok = replid == self.replid
            || (replid == self.replid2
                && self.second_offset >= 0
                && offset <= self.second_offset as u64);
        let start = self.offset - self.backlog.len() as u64;
        if !id_ok || offset < start || offset > self.offset {
            return None;
        }
        let skip = (offset - start) as usize;
        Some(self.backlog.iter().skip(skip).copied().collect())
    }

    /// Offset of the first byte still in the backlog (INFO repl_backlog_first_byte_offset).
    pub(crate) fn backlog_start(&self) -> u64 {
        self.offset - self.backlog.len() as u64 + 1
    }

    /// Bytes held in the backlog (INFO repl_backlog_histlen).
    pub(crate) fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    /// Adopts a primary's history after a full sync: its id, its offset, an empty backlog.
    pub(crate) fn adopt(&mut self, replid: String, offset: u64) {
        self.replid = replid;
        self.replid2 = "0".repeat(REPLID_LEN);
        self.second_offset = -1;
        self.offset = offset;
        self.backlog.clear();
        self.pending.clear();
        self.stream_db = None;
    }

    /// Forces a SELECT before the next command (a new replica or AOF starts listening).
    pub(crate) fn reset_db(&mut self) {
        self.stream_db = None;
    }

    /// Changes the backlog size (CONFIG SET repl-backlog-size).
    pub(crate) fn set_backlog_size(&mut self, size: usize) {
        self.backlog_size = size.max(16 * 1024);
        let excess = self.backlog.len().saturating_sub(self.backlog_size);
        if excess > 0 {
            self.backlog.drain(..excess);
        }
    }

    /// After promotion to primary: keep serving the old history under the old id (PSYNC2).
    pub(crate) fn shift_replid(&mut self, new_id: String) {
        self.replid2 = std::mem::replace(&mut self.replid, new_id);
        self.second_offset = self.offset as i64 + 1;
        self.stream_db = None;
        // A promoted replica keeps the backlog it built from its primary's stream and
        // keeps feeding it, so former siblings can continue partially (Redis does too).
        self.active = true;
        self.mirror_mode = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(parts: &[&str]) -> Vec<Bytes> {
        parts
            .iter()
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect()
    }

    #[test]
    fn selects_and_wraps_transactions() {
        let mut f = Feed::new("a".repeat(40), 1 << 20);
        f.active = true;
        f.propagate(0, &cmd(&["SET", "k", "v"]));
        f.begin_exec();
        f.propagate(2, &cmd(&["DEL", "k"]));
        f.end_exec();
        f.begin_exec();
        f.end_exec();
        let out = String::from_utf8(f.take_output()).unwrap();
        assert_eq!(
            out,
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n\
*1\r\n$5\r\nMULTI\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n*1\r\n$4\r\nEXEC\r\n"
        );
        assert_eq!(f.offset as usize, out.len());
    }

    #[test]
    fn backlog_serves_partial_resync_only_within_range() {
        let mut f = Feed::new("a".repeat(40), 16 * 1024);
        f.active = true;
        f.propagate(0, &cmd(&["SET", "k", "v"]));
        let mid = f.offset;
        f.propagate(0, &cmd(&["SET", "k", "w"]));
        let tail = f.backlog_from(&"a".repeat(40), mid).unwrap();
        assert_eq!(tail, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nw\r\n");
        assert!(f.backlog_from(&"b".repeat(40), mid).is_none());
        for _ in 0..2000 {
            f.propagate(0, &cmd(&["SET", "k", "0123456789"]));
        }
        assert!(
            f.backlog_from(&"a".repeat(40), mid).is_none(),
            "fell out of the backlog"
        );
        let old = "a".repeat(40);
        f.shift_replid("c".repeat(40));
        assert!(
            f.backlog_from(&old, f.offset).is_some(),
            "old id valid up to the switch"
        );
    }
}
