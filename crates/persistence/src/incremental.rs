//! Loading an RDB file while it arrives (a replica's full sync): bytes are fed in chunks as
//! the network delivers them and keys come out as soon as each is complete, so decoding
//! overlaps the primary's encoding and the transfer instead of following them.
//!
//! CONTRACT: fed the same bytes in any chunking, [`RdbFeedReader`] produces exactly the keys,
//! info and errors [`crate::RdbReader`] produces for the whole file, plus the bytes that
//! followed the file (a diskless sync's end mark, the replication stream). A unit (one opcode
//! with its operands, or one key with its value) that is not complete yet is parsed again
//! from its start once more bytes came; to keep that linear for huge keys, a partial unit
//! over `LAZY_FROM` bytes is retried only once the buffer doubled or [`RdbFeedReader::retry_now`]
//! says the sender has paused. Malformed input is an error, never a panic; a length that
//! only more input could satisfy waits for that input (the sender's end decides).

use crate::consts::*;
use crate::crc64::crc64_update;
use crate::decode::{self, is_value_type, Cursor};
use crate::error::RdbError;
use crate::reader::{parse_magic, RdbInfo, RdbItem};
use crate::RdbValue;

/// Partial units at least this large wait for the buffer to double before a new attempt.
const LAZY_FROM: usize = 256 * 1024;
/// Consumed bytes dropped from the front of the buffer once they are this many (and at
/// least half of it), so the buffer holds about one chunk plus one partial unit.
const COMPACT_FROM: usize = 1 << 20;

/// What [`RdbFeedReader::next_item`] found.
#[derive(Debug)]
pub enum Next<'a> {
    /// One key, borrowed from the reader's buffer until the next call.
    Item(RdbItem<'a>),
    /// The buffered bytes end inside a unit: feed more.
    NeedMore,
    /// The file ended and its checksum matched; [`RdbFeedReader::leftover`] holds what
    /// followed it.
    Done,
}

/// An RDB parser fed in chunks; see the module's contract.
#[derive(Debug, Default)]
pub struct RdbFeedReader {
    buf: Vec<u8>,
    /// The first byte not consumed yet.
    pos: usize,
    /// CRC-64 of every byte before `crc_pos` (including bytes dropped by compaction).
    crc: u64,
    crc_pos: usize,
    /// 0 until the header has been read.
    version: u32,
    db: usize,
    expire_ms: Option<u64>,
    idle_secs: Option<u64>,
    freq: Option<u8>,
    info: RdbInfo,
    done: bool,
    /// Buffer length the pending unit needs at least (exact), and the length at which it is
    /// worth trying again (exact, or doubled for large partial units).
    need_exact: usize,
    need_lazy: usize,
}

impl RdbFeedReader {
    /// A reader expecting the "REDISnnnn" header first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the next bytes of the file (bytes after the file's end are kept as leftover).
    pub fn feed(&mut self, chunk: &[u8]) {
        if !self.done && self.pos >= COMPACT_FROM && self.pos * 2 >= self.buf.len() {
            self.crc = crc64_update(self.crc, &self.buf[self.crc_pos..self.pos]);
            self.buf.drain(..self.pos);
            self.need_exact = self.need_exact.saturating_sub(self.pos);
            self.need_lazy = self.need_lazy.saturating_sub(self.pos);
            self.pos = 0;
            self.crc_pos = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The sender paused: try the pending unit again as soon as its exact need is met,
    /// without waiting for the buffer to double.
    pub fn retry_now(&mut self) {
        self.need_lazy = self.need_exact;
    }

    /// Whether the file has been read to its end (checksum verified).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Everything seen so far apart from keys.
    pub fn info(&self) -> &RdbInfo {
        &self.info
    }

    /// The bytes fed after the end of the file (empty until [`Next::Done`]).
    pub fn leftover(&self) -> &[u8] {
        if self.done {
            &self.buf[self.pos..]
        } else {
            &[]
        }
    }

    /// The next key, [`Next::NeedMore`] when the buffer ends inside a unit, or
    /// [`Next::Done`] once the footer checked out.
    pub fn next_item(&mut self) -> Result<Next<'_>, RdbError> {
        if self.done {
            return Ok(Next::Done);
        }
        if self.buf.len() < self.need_lazy {
            return Ok(Next::NeedMore);
        }
        if self.version == 0 {
            if self.buf.len() - self.pos < 9 {
                (self.need_exact, self.need_lazy) = needs(self.buf.len(), self.pos, self.pos + 9);
                return Ok(Next::NeedMore);
            }
            self.version = parse_magic(&self.buf[self.pos..self.pos + 9])?;
            self.info.version = self.version;
            self.pos += 9;
        }
        loop {
            let start = self.pos;
            let buf = &self.buf;
            let mut c = Cursor::new(&buf[start..]);
            let result = unit(&mut c, self.version);
            let unit = match result {
                Ok(u) => u,
                Err(e) => {
                    return match c.wanted() {
                        Some(want) if e == RdbError::Truncated => {
                            (self.need_exact, self.need_lazy) =
                                needs(buf.len(), start, start.saturating_add(want));
                            Ok(Next::NeedMore)
                        }
                        _ => Err(e),
                    };
                }
            };
            self.pos = start + c.pos();
            match unit {
                Unit::Eof(stored) => {
                    self.done = true;
                    if let Some(stored) = stored {
                        // The checksum covers everything up to and including the EOF opcode.
                        let end = self.pos - 8;
                        let computed = crc64_update(self.crc, &buf[self.crc_pos..end]);
                        self.crc_pos = end;
                        if stored != 0 {
                            if stored != computed {
                                return Err(RdbError::ChecksumMismatch { stored, computed });
                            }
                            self.info.checksum = Some(stored);
                        }
                    }
                    return Ok(Next::Done);
                }
                Unit::SelectDb(db) => self.db = db,
                Unit::ResizeDb(keys, expires) => {
                    self.info.resize_hints.push((self.db, keys, expires))
                }
                Unit::Aux(k, v) => self.info.aux.push((k, v)),
                Unit::Expire(ms) => self.expire_ms = Some(ms),
                Unit::Idle(secs) => self.idle_secs = Some(secs),
                Unit::Freq(f) => self.freq = Some(f),
                Unit::Function(code) => self.info.functions.push(code),
                Unit::Key(key, value) => {
                    let expire_ms = self.expire_ms.take();
                    let idle_secs = self.idle_secs.take();
                    let freq = self.freq.take();
                    if !matches!(value, RdbValue::Str(_)) && value.is_empty() {
                        self.info.skipped_empty += 1;
                        continue;
                    }
                    self.info.keys += 1;
                    return Ok(Next::Item(RdbItem {
                        db: self.db,
                        key,
                        value,
                        expire_ms,
                        idle_secs,
                        freq,
                    }));
                }
            }
        }
    }
}

/// For a unit starting at `start` that needs the buffer (now `len` bytes) to reach `exact`:
/// the exact need, and the length worth trying again at (doubled for large partial units).
fn needs(len: usize, start: usize, exact: usize) -> (usize, usize) {
    let exact = exact.max(len + 1);
    let partial = len - start;
    let lazy = if partial >= LAZY_FROM {
        exact.max(start.saturating_add(2 * partial))
    } else {
        exact
    };
    (exact, lazy)
}

/// One complete opcode with its operands.
enum Unit<'a> {
    /// EOF, with the stored checksum (None before version 5, which has none).
    Eof(Option<u64>),
    SelectDb(usize),
    ResizeDb(u64, u64),
    Aux(Vec<u8>, Vec<u8>),
    Expire(u64),
    Idle(u64),
    Freq(u8),
    Function(Vec<u8>),
    Key(std::borrow::Cow<'a, [u8]>, RdbValue),
}

/// Parses one unit at the cursor, as `RdbReader::next_item` reads each opcode.
fn unit<'a>(c: &mut Cursor<'a>, version: u32) -> Result<Unit<'a>, RdbError> {
    let op = c.u8()?;
    Ok(match op {
        OP_EOF => Unit::Eof(if version >= 5 {
            Some(u64::from_le_bytes(c.array()?))
        } else {
            None
        }),
        OP_SELECTDB => Unit::SelectDb(
            usize::try_from(c.len()?)
                .map_err(|_| RdbError::Corrupt("database number too large"))?,
        ),
        OP_RESIZEDB => {
            let keys = c.len()?;
            Unit::ResizeDb(keys, c.len()?)
        }
        OP_AUX => {
            let k = c.string()?;
            Unit::Aux(k, c.string()?)
        }
        OP_EXPIRETIME => {
            let secs = i32::from_le_bytes(c.array()?);
            Unit::Expire(secs.max(0) as u64 * 1000)
        }
        OP_EXPIRETIME_MS => Unit::Expire(i64::from_le_bytes(c.array()?).max(0) as u64),
        OP_IDLE => Unit::Idle(c.len()?),
        OP_FREQ => Unit::Freq(c.u8()?),
        OP_FUNCTION_PRE_GA => return Err(RdbError::UnsupportedOpcode(op)),
        OP_MODULE_AUX => return Err(RdbError::ModuleAux),
        OP_FUNCTION2 => Unit::Function(c.string()?),
        ty if is_value_type(ty) => {
            let key = c.string_cow()?;
            Unit::Key(key, decode::value(c, ty)?)
        }
        other => return Err(RdbError::UnsupportedOpcode(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RdbEntry, RdbReader};

    fn sample() -> Vec<u8> {
        let mut entries = Vec::new();
        for i in 0..3000u64 {
            let value = match i % 5 {
                0 => RdbValue::Str(format!("value:{i}").into_bytes()),
                1 => RdbValue::Str(format!("{i} words ").repeat(30).into_bytes()),
                2 => RdbValue::List((0..(i % 40)).map(|j| j.to_string().into_bytes()).collect()),
                3 => RdbValue::Hash(vec![(b"f".to_vec(), i.to_string().into_bytes())]),
                _ => RdbValue::ZSet(vec![(b"m".to_vec(), i as f64 / 3.0)]),
            };
            let mut e = RdbEntry::new((i / 1000) as usize, format!("key:{i}"), value);
            e.expire_ms = (i % 7 == 0).then_some(1_900_000_000_000 + i);
            e.freq = (i % 11 == 0).then_some(5);
            entries.push(e);
        }
        // A key far larger than LAZY_FROM, so the lazy retry path is crossed.
        entries.push(RdbEntry::new(
            0,
            "big",
            RdbValue::Set(
                (0..120_000u32)
                    .map(|i| format!("member-{i}").into_bytes())
                    .collect(),
            ),
        ));
        let mut w = crate::RdbWriter::new(Vec::new()).unwrap();
        w.standard_aux(1_700_000_000, 0).unwrap();
        w.function(b"#!lua name=lib\nredis.register_function('f', function() return 1 end)")
            .unwrap();
        for e in &entries {
            w.entry(e).unwrap();
        }
        w.finish().unwrap()
    }

    fn whole(file: &[u8]) -> (Vec<RdbEntry>, RdbInfo) {
        let mut r = RdbReader::new(file).unwrap();
        let mut v = Vec::new();
        while let Some(e) = r.next_entry().unwrap() {
            v.push(e);
        }
        (v, r.into_info())
    }

    /// Feeds `input` in chunks of `sizes` (cycled), draining keys after each; retries when
    /// the input is exhausted, as a server does when the sender pauses.
    fn chunked(
        input: &[u8],
        sizes: &[usize],
    ) -> Result<(Vec<RdbEntry>, RdbInfo, Vec<u8>), RdbError> {
        let mut r = RdbFeedReader::new();
        let mut out = Vec::new();
        let mut at = 0;
        let mut k = 0;
        loop {
            match r.next_item()? {
                Next::Item(it) => out.push(RdbEntry {
                    db: it.db,
                    key: it.key.into_owned(),
                    value: it.value,
                    expire_ms: it.expire_ms,
                    idle_secs: it.idle_secs,
                    freq: it.freq,
                }),
                Next::Done => break,
                Next::NeedMore if at < input.len() => {
                    let n = sizes[k % sizes.len()].min(input.len() - at);
                    k += 1;
                    r.feed(&input[at..at + n]);
                    at += n;
                }
                Next::NeedMore => {
                    if r.buf.len() >= r.need_exact && r.need_lazy > r.need_exact {
                        r.retry_now();
                        continue;
                    }
                    return Err(RdbError::Truncated);
                }
            }
        }
        r.feed(&input[at..]);
        Ok((out, r.info().clone(), r.leftover().to_vec()))
    }

    /// Any chunking yields what the whole-file reader yields, and the bytes after the file
    /// come back as leftover.
    #[test]
    fn chunked_input_matches_the_whole_file_reader() {
        let file = sample();
        assert!(file.len() > 4 * LAZY_FROM);
        let (want, want_info) = whole(&file);
        let mut input = file.clone();
        input.extend_from_slice(b"0123456789012345678901234567890123456789*1\r\n$4\r\nPING\r\n");
        // Byte by byte for the first 64 KB (slow beyond), then in chunks of all sizes.
        for sizes in [
            &[1usize; 65536][..],
            &[7, 1, 300],
            &[16 * 1024],
            &[65536, 3],
            &[1 << 22],
        ] {
            let mut sizes = sizes.to_vec();
            if sizes.len() > 1000 {
                sizes.push(1 << 20);
            }
            let (got, info, rest) = chunked(&input, &sizes).unwrap();
            assert_eq!(got.len(), want.len());
            assert!(
                got == want,
                "keys differ with chunks {:?}",
                &sizes[sizes.len() - 1..]
            );
            assert!(info == want_info, "info differs");
            assert!(info.checksum.is_some());
            assert_eq!(&rest[..], &input[file.len()..]);
        }
    }

    /// Corruption is reported as the whole-file reader reports it, and a cut file waits.
    #[test]
    fn errors_match_the_whole_file_reader() {
        let file = sample();
        let mut bad = file.clone();
        let n = bad.len();
        bad[n - 3] ^= 0x40;
        assert!(matches!(
            chunked(&bad, &[4096]),
            Err(RdbError::ChecksumMismatch { .. })
        ));
        assert!(matches!(
            chunked(b"REDIX0010xx", &[3]),
            Err(RdbError::BadMagic)
        ));
        assert!(matches!(
            chunked(&file[..file.len() / 2], &[4096]),
            Err(RdbError::Truncated)
        ));
        let mut op = file[..200].to_vec();
        op.truncate(9);
        op.push(100);
        assert!(matches!(
            chunked(&op, &[5]),
            Err(RdbError::UnsupportedOpcode(100))
        ));
    }
}
