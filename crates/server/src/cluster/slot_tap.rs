//! The change stream of an atomic slot migration: a filter on the propagation feed that
//! keeps, as RESP, every propagated command whose key falls in the moving slots.
//!
//! WHY THE FEED: every change to the dataset already passes through `Feed::propagate` as
//! the command that reproduces it (relative TTLs made absolute, random choices fixed,
//! expiries and evictions as DEL), so the target replays exactly what our replicas replay,
//! and nothing new has to be kept in step with the command set.

use bytes::Bytes;
use rubra_keys::key_slot;
use rubra_resp::encode_request;

/// Captured commands of the moving slots, waiting to be sent to the target.
pub(crate) struct SlotTap {
    /// `moving[slot]`: the slot is being migrated.
    moving: Vec<bool>,
    /// Commands not yet taken by the sender.
    buf: Vec<u8>,
    /// The database the captured stream last SELECTed.
    db: Option<usize>,
    /// A keyless write that empties databases (FLUSHALL, FLUSHDB, SWAPDB) was seen: the
    /// target cannot replay it slot by slot, so the migration must fail.
    pub poisoned: bool,
    /// Commands in `buf`.
    cmds: u64,
}

impl SlotTap {
    /// A tap for the slots marked in `moving` (16384 entries).
    pub(crate) fn new(moving: Vec<bool>) -> SlotTap {
        SlotTap {
            moving,
            buf: Vec::new(),
            db: None,
            poisoned: false,
            cmds: 0,
        }
    }

    /// Keeps `args` (run in database `db`) if its key is in a moving slot.
    pub(crate) fn capture(&mut self, db: usize, args: &[Bytes]) {
        let Some(name) = args.first() else {
            return;
        };
        let Some(cmd) = crate::cmd::lookup(name) else {
            return;
        };
        let Some(&first) = cmd.key_positions(args).first() else {
            if matches!(cmd.name, "flushall" | "flushdb" | "swapdb") {
                self.poisoned = true;
            }
            return;
        };
        if !self.moving[key_slot(&args[first]) as usize] {
            return;
        }
        if self.db != Some(db) {
            self.db = Some(db);
            let select = [Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())];
            encode_request(&mut self.buf, &select);
            self.cmds += 1;
        }
        encode_request(&mut self.buf, args);
        self.cmds += 1;
    }

    /// Takes what was captured since the last call, and how many commands it holds.
    pub(crate) fn take(&mut self) -> (Vec<u8>, u64) {
        (
            std::mem::take(&mut self.buf),
            std::mem::take(&mut self.cmds),
        )
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
    fn keeps_only_moving_slots_and_poisons_on_flush() {
        let mut moving = vec![false; 16384];
        moving[key_slot(b"a") as usize] = true;
        let mut tap = SlotTap::new(moving);
        tap.capture(0, &cmd(&["SET", "a", "1"]));
        tap.capture(0, &cmd(&["SET", "b", "1"]));
        tap.capture(0, &cmd(&["DEL", "a"]));
        let (out, cmds) = tap.take();
        assert_eq!(cmds, 3);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\nDEL\r\n$1\r\na\r\n"
        );
        assert!(!tap.poisoned);
        tap.capture(0, &cmd(&["FLUSHALL"]));
        assert!(tap.poisoned);
    }
}
