//! The propagation feed: every change is turned into the command that reproduces it and
//! appended, as RESP, to the replication stream (with its backlog for partial resyncs) and to
//! the append-only file. One feed for both means a replica and a restarted node replay
//! exactly the same history, as in Redis.

use bytes::Bytes;
use rubra_resp::encode_request;
use std::collections::VecDeque;

/// `targets` bit: the append-only file (Redis's PROPAGATE_AOF).
pub(crate) const TARGET_AOF: u8 = 1;
/// `targets` bit: replicas and the backlog (Redis's PROPAGATE_REPL).
pub(crate) const TARGET_REPL: u8 = 2;

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
    /// Replication stream bytes produced since the last `take_output`.
    pending: Vec<u8>,
    /// AOF bytes produced since the last `take_aof_output`: the same commands, except those
    /// a script sent to only one target (`redis.set_repl`), with their own SELECTs.
    aof_pending: Vec<u8>,
    /// The database the AOF bytes last SELECTed.
    aof_db: Option<usize>,
    /// Where `propagate` sends commands (TARGET_AOF | TARGET_REPL); a script narrows it with
    /// `redis.set_repl` for the commands it calls.
    pub targets: u8,
    /// Whether anything is listening (replicas, AOF); if not, nothing is encoded.
    pub active: bool,
    /// Whether an append-only file takes the AOF bytes (`Store::aof` is open); if not,
    /// nothing is encoded for it (a node with replicas and no AOF wrote every command twice).
    pub aof_on: bool,
    /// Set while applying our primary's stream: its bytes are mirrored verbatim with
    /// `emit_raw` (same offsets as the primary), so commands are not propagated again.
    pub mirror_mode: bool,
    /// Inside EXEC (or a command that propagates several commands): what it propagates is
    /// held until the end, then sent alone if it is one command, or as MULTI ... EXEC with
    /// the SELECT before the MULTI if several (Redis 7.0's propagatePendingCommands).
    in_exec: bool,
    held: Vec<(usize, Vec<Bytes>, u8)>,
    /// While this node exports slots (CLUSTER MIGRATESLOTS): the commands of those slots,
    /// for the target. Fed whether or not replicas or an AOF listen.
    pub tap: Option<crate::cluster::slot_tap::SlotTap>,
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
            aof_pending: Vec::new(),
            aof_db: None,
            targets: TARGET_AOF | TARGET_REPL,
            active: false,
            aof_on: false,
            mirror_mode: false,
            in_exec: false,
            held: Vec::new(),
            tap: None,
        }
    }

    /// Appends one command, as executed in database `db`. Runs for every write: with no
    /// replica, backlog, AOF or tap, a few inlined tests.
    #[inline]
    pub(crate) fn propagate(&mut self, db: usize, args: &[Bytes]) {
        let targets = self.targets;
        if !(self.active || self.tap.is_some()) || self.mirror_mode || targets == 0 {
            return;
        }
        self.propagate_to(db, args, targets);
    }

    /// `propagate` when something receives the command.
    #[inline(never)]
    fn propagate_to(&mut self, db: usize, args: &[Bytes], targets: u8) {
        if self.in_exec {
            self.held.push((db, args.to_vec(), targets));
            return;
        }
        if let Some(tap) = self.tap.as_mut() {
            tap.capture(db, args);
        }
        if self.active {
            self.emit_in(db, args, targets);
        }
    }

    /// Emits one command in database `db` to `targets`, SELECTing it first in each output
    /// that is elsewhere. The command is encoded once, straight into the stream's buffer.
    fn emit_in(&mut self, db: usize, args: &[Bytes], targets: u8) {
        let repl = targets & TARGET_REPL != 0;
        let aof = targets & TARGET_AOF != 0 && self.aof_on;
        let select = || [Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())];
        if repl && self.stream_db != Some(db) {
            self.stream_db = Some(db);
            self.emit_repl(&encoded(&select()));
        }
        if aof && self.aof_db != Some(db) {
            self.aof_db = Some(db);
            self.aof_pending.extend_from_slice(&encoded(&select()));
        }
        if repl {
            let start = self.pending.len();
            encode_request(&mut self.pending, args);
            self.commit_repl(start);
            if aof {
                self.aof_pending.extend_from_slice(&self.pending[start..]);
            }
        } else if aof {
            encode_request(&mut self.aof_pending, args);
        }
    }

    /// Marks the start of EXEC (or of a command propagating several commands): what is
    /// propagated until `end_exec` is held, to go out atomically.
    pub(crate) fn begin_exec(&mut self) {
        if self.mirror_mode {
            return;
        }
        self.in_exec = true;
        self.held.clear();
    }

    /// Whether propagation is being held (inside `begin_exec`/`end_exec`).
    pub(crate) fn in_exec(&self) -> bool {
        self.in_exec
    }

    /// Marks the end of EXEC: one held command goes out alone, several go out as
    /// SELECT (if needed), MULTI, the commands, EXEC.
    pub(crate) fn end_exec(&mut self) {
        self.in_exec = false;
        let held = std::mem::take(&mut self.held);
        if let Some(tap) = self.tap.as_mut() {
            for (db, args, _) in &held {
                tap.capture(*db, args);
            }
        }
        if !self.active {
            return;
        }
        let both = TARGET_AOF | TARGET_REPL;
        if held.len() > 1 {
            self.emit_in(held[0].0, &[Bytes::from_static(b"MULTI")], both);
        }
        for (db, args, targets) in &held {
            self.emit_in(*db, args, *targets);
        }
        if let (true, Some(last)) = (held.len() > 1, held.last()) {
            // In the last command's database, as Redis does (no SELECT before EXEC).
            self.emit_in(last.0, &[Bytes::from_static(b"EXEC")], both);
        }
    }

    /// Appends raw stream bytes (a PING to replicas, a primary's stream being mirrored) to
    /// the replication stream and the AOF alike.
    pub(crate) fn emit_raw(&mut self, bytes: &[u8]) {
        if self.aof_on {
            self.aof_pending.extend_from_slice(bytes);
        }
        self.emit_repl(bytes);
    }

    /// The primary's periodic PING to its replicas (repl-ping-replica-period): stream and
    /// backlog only, not the AOF, as Redis's replicationCron. It moves the offset of an
    /// idle primary, and lets replicas tell a quiet primary from a vanished one
    /// (repl-timeout).
    pub(crate) fn ping_replicas(&mut self) {
        self.emit_repl(b"*1\r\n$4\r\nPING\r\n");
    }

    /// Appends bytes to the replication stream and its backlog.
    fn emit_repl(&mut self, bytes: &[u8]) {
        let start = self.pending.len();
        self.pending.extend_from_slice(bytes);
        self.commit_repl(start);
    }

    /// Counts the stream bytes appended from `start` on in the offset and the backlog.
    fn commit_repl(&mut self, start: usize) {
        let new = &self.pending[start..];
        self.offset += new.len() as u64;
        append_backlog(&mut self.backlog, self.backlog_size, new);
    }

    /// Takes the replication stream bytes produced since the last call (for replicas).
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    /// Takes the AOF bytes produced since the last call.
    pub(crate) fn take_aof_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.aof_pending)
    }

    /// Whether bytes are waiting for `take_output` or `take_aof_output`.
    pub(crate) fn has_output(&self) -> bool {
        !self.pending.is_empty() || !self.aof_pending.is_empty()
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

    /// Bytes the backlog holds allocated (INFO mem_replication_backlog): it grows by
    /// doubling up to repl-backlog-size, so a partly filled backlog can hold more than
    /// its history, and memory accounting must count what is held.
    pub(crate) fn backlog_allocated(&self) -> usize {
        self.backlog.capacity()
    }

    /// Adopts a primary's history after a full sync: its id, its offset, an empty backlog.
    pub(crate) fn adopt(&mut self, replid: String, offset: u64) {
        self.replid = replid;
        self.replid2 = "0".repeat(REPLID_LEN);
        self.second_offset = -1;
        self.offset = offset;
        // Freed, not cleared: the old history's capacity is not this history's.
        self.backlog = VecDeque::new();
        self.pending.clear();
        self.aof_pending.clear();
        self.stream_db = None;
        self.aof_db = None;
    }

    /// A primary restarted from its own RDB file (written at `replid`/`offset`): a new id,
    /// the file's history as the secondary one up to `offset`, and an empty backlog that
    /// records from there, so replicas of the old run continue with a partial resync.
    /// Redis does the same at start-up (loadDataFromDisk with the file's repl-id/offset).
    pub(crate) fn restart_history(&mut self, new_id: String, replid: String, offset: u64) {
        self.adopt(new_id, offset);
        self.replid2 = replid;
        self.second_offset = offset as i64 + 1;
        self.active = true;
    }

    /// Forces a SELECT before the next command (a new replica or AOF starts listening).
    pub(crate) fn reset_db(&mut self) {
        self.stream_db = None;
        self.aof_db = None;
    }

    /// Changes the backlog size (CONFIG SET repl-backlog-size).
    pub(crate) fn set_backlog_size(&mut self, size: usize) {
        self.backlog_size = size.max(16 * 1024);
        let excess = self.backlog.len().saturating_sub(self.backlog_size);
        if excess > 0 {
            self.backlog.drain(..excess);
        }
        self.backlog.shrink_to(self.backlog_size);
    }

    /// DEBUG CHANGE-REPL-ID: a new history id and no second one (Redis's
    /// changeReplicationId + clearReplicationId2), so no replica can continue partially.
    pub(crate) fn change_replid(&mut self, new_id: String) {
        self.replid = new_id;
        self.replid2 = "0".repeat(REPLID_LEN);
        self.second_offset = -1;
    }

    /// After promotion to primary: keep serving the old history under the old id (PSYNC2).
    pub(crate) fn shift_replid(&mut self, new_id: String) {
        self.replid2 = std::mem::replace(&mut self.replid, new_id);
        self.second_offset = self.offset as i64 + 1;
        self.stream_db = None;
        self.aof_db = None;
        // A promoted replica keeps the backlog it built from its primary's stream and
        // keeps feeding it, so former siblings can continue partially (Redis does too).
        self.active = true;
        self.mirror_mode = false;
    }
}

/// Appends stream bytes to a backlog of at most `size` bytes, dropping its oldest ones.
/// Room is made before appending, and the deque grows at most to the backlog size:
/// appending first and trimming after let its capacity double past the size and stay there
/// (up to twice repl-backlog-size held by an idle node, issue 14).
fn append_backlog(backlog: &mut VecDeque<u8>, size: usize, bytes: &[u8]) {
    let keep = &bytes[bytes.len().saturating_sub(size)..];
    let excess = (backlog.len() + keep.len()).saturating_sub(size);
    backlog.drain(..excess);
    let needed = backlog.len() + keep.len();
    if needed > backlog.capacity() {
        let target = (backlog.capacity() * 2).max(needed).min(size);
        backlog.reserve_exact(target - backlog.len());
    }
    backlog.extend(keep);
}

/// One command as RESP.
fn encoded(args: &[Bytes]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    encode_request(&mut buf, args);
    buf
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

    /// Redis 7.0: a transaction with one write goes out unwrapped; several go out as
    /// MULTI ... EXEC with the SELECT before the MULTI; an empty one sends nothing.
    #[test]
    fn selects_and_wraps_transactions() {
        let mut f = Feed::new("a".repeat(40), 1 << 20);
        f.active = true;
        f.aof_on = true;
        f.propagate(0, &cmd(&["SET", "k", "v"]));
        f.begin_exec();
        f.propagate(2, &cmd(&["DEL", "k"]));
        f.end_exec();
        f.begin_exec();
        f.end_exec();
        f.begin_exec();
        f.propagate(1, &cmd(&["DEL", "a"]));
        f.propagate(1, &cmd(&["DEL", "b"]));
        f.end_exec();
        let out = String::from_utf8(f.take_output()).unwrap();
        assert_eq!(
            out,
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n\
*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n\
*2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n*1\r\n$5\r\nMULTI\r\n\
*2\r\n$3\r\nDEL\r\n$1\r\na\r\n*2\r\n$3\r\nDEL\r\n$1\r\nb\r\n*1\r\n$4\r\nEXEC\r\n"
        );
        assert_eq!(f.offset as usize, out.len());
        assert_eq!(String::from_utf8(f.take_aof_output()).unwrap(), out);
    }

    /// redis.set_repl: a command for one target goes only there, each output SELECTing
    /// for itself; the MULTI/EXEC around a script's effects goes to both.
    #[test]
    fn targets_split_the_aof_from_replicas() {
        let mut f = Feed::new("a".repeat(40), 1 << 20);
        f.active = true;
        f.aof_on = true;
        f.begin_exec();
        f.targets = TARGET_AOF;
        f.propagate(1, &cmd(&["SET", "a", "1"]));
        f.targets = TARGET_REPL;
        f.propagate(1, &cmd(&["SET", "r", "1"]));
        f.targets = 0;
        f.propagate(1, &cmd(&["SET", "none", "1"]));
        f.targets = TARGET_AOF | TARGET_REPL;
        f.end_exec();
        let sel = "*2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n";
        let multi = "*1\r\n$5\r\nMULTI\r\n";
        let exec = "*1\r\n$4\r\nEXEC\r\n";
        let set = |k: &str| format!("*3\r\n$3\r\nSET\r\n$1\r\n{k}\r\n$1\r\n1\r\n");
        let repl = String::from_utf8(f.take_output()).unwrap();
        let aof = String::from_utf8(f.take_aof_output()).unwrap();
        assert_eq!(repl, format!("{sel}{multi}{}{exec}", set("r")));
        assert_eq!(aof, format!("{sel}{multi}{}{exec}", set("a")));
        assert_eq!(f.offset as usize, repl.len());
    }

    /// Without an open AOF nothing is encoded for it; the stream and its offset are the
    /// same as with one.
    #[test]
    fn no_aof_bytes_without_an_aof() {
        let run = |aof_on: bool| {
            let mut f = Feed::new("a".repeat(40), 1 << 20);
            f.active = true;
            f.aof_on = aof_on;
            f.propagate(3, &cmd(&["SET", "k", "v"]));
            f.emit_raw(b"*1\r\n$4\r\nPING\r\n");
            (f.take_output(), f.take_aof_output(), f.offset)
        };
        let (with_stream, with_aof, with_offset) = run(true);
        let (stream, aof, offset) = run(false);
        assert_eq!(stream, with_stream);
        assert_eq!(offset, with_offset);
        assert_eq!(with_aof, with_stream);
        assert!(aof.is_empty());
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

    /// Issue 14: a full backlog holds its size, not the doubled capacity that appending
    /// before trimming left behind; its content is still the last `size` bytes.
    #[test]
    fn backlog_capacity_stays_within_its_size() {
        let size = 16 * 1024;
        let mut f = Feed::new("a".repeat(40), size);
        f.active = true;
        let mut all = Vec::new();
        for i in 0..3000 {
            let args = cmd(&["SET", "k", &"v".repeat(i % 97)]);
            all.extend_from_slice(&encoded(&args));
            f.propagate(0, &args);
            assert!(
                f.backlog.capacity() <= size,
                "capacity {}",
                f.backlog.capacity()
            );
        }
        // Bigger than the whole backlog at once: only its tail is kept.
        let big = cmd(&["SET", "k", &"x".repeat(size * 2)]);
        all.extend_from_slice(&encoded(&big));
        f.propagate(0, &big);
        assert!(f.backlog.capacity() <= size);
        let start = f.offset - size as u64;
        let held = f.backlog_from(&"a".repeat(40), start).unwrap();
        let sent = String::from_utf8(f.take_output()).unwrap();
        assert!(sent.ends_with(std::str::from_utf8(&all).unwrap()));
        assert_eq!(held, sent.as_bytes()[sent.len() - size..]);
    }
}
