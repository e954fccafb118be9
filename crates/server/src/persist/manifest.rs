//! The multi-part AOF manifest of Redis 7.0: `appenddirname` holds a BASE file (the
//! dataset at the last rewrite, RDB or commands), INCR files (the writes since, in order)
//! and HISTORY files (replaced ones, deleted unless `aof-disable-auto-gc`), listed in
//! `<appendfilename>.manifest`, one line per file: `file <name> seq <n> type <b|h|i>`.
//! The manifest is replaced atomically (temporary file, fsync, rename, fsync of the
//! directory), so a crash leaves either the old list or the new one.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The longest manifest line Redis reads (longer ones are refused).
const MAX_LINE: usize = 1024;

/// What a file listed in the manifest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileType {
    Base,
    History,
    Incr,
}

impl FileType {
    /// The manifest's letter for the type.
    fn letter(self) -> char {
        match self {
            FileType::Base => 'b',
            FileType::History => 'h',
            FileType::Incr => 'i',
        }
    }
}

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AofFile {
    pub name: String,
    pub seq: i64,
    pub kind: FileType,
}

/// The manifest in memory: the base, history and incr files, and the last sequence
/// numbers used (new files continue from them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub base: Option<AofFile>,
    pub history: Vec<AofFile>,
    pub incr: Vec<AofFile>,
    pub base_seq: i64,
    pub incr_seq: i64,
}

/// The manifest's file name: `<appendfilename>.manifest`.
pub(crate) fn manifest_name(aof_name: &str) -> String {
    format!("{aof_name}.manifest")
}

/// The temporary incr file that collects writes while the first rewrite after
/// `CONFIG SET appendonly yes` runs.
pub(crate) fn temp_incr_name(aof_name: &str) -> String {
    format!("temp-{aof_name}.incr")
}

impl Manifest {
    /// Parses a manifest, with Redis's checks and error texts (the caller logs them and
    /// stops the start). The error is (text, the offending line if any, its number).
    pub(crate) fn parse(data: &[u8]) -> Result<Manifest, (String, Option<(usize, String)>)> {
        let mut m = Manifest::default();
        let mut max_incr = 0i64;
        let mut lines = 0usize;
        let mut rest = data;
        let fail = |e: &str, line: Option<(usize, String)>| Err((e.to_string(), line));
        while !rest.is_empty() {
            // fgets with a buffer of MAX_LINE + 1: a longer line is read in pieces.
            let cut = rest
                .iter()
                .take(MAX_LINE)
                .position(|&b| b == b'\n')
                .map(|i| i + 1)
                .unwrap_or(rest.len().min(MAX_LINE));
            let raw = &rest[..cut];
            rest = &rest[cut..];
            lines += 1;
            if raw.first() == Some(&b'#') {
                continue;
            }
            if !raw.contains(&b'\n') {
                return fail("The AOF manifest file contains too long line", None);
            }
            let trimmed = trim(raw);
            let shown = Some((lines, String::from_utf8_lossy(trimmed).into_owned()));
            if trimmed.is_empty() {
                return fail("Invalid AOF manifest file format", shown);
            }
            let args = match rubra_resp::split_args(trimmed) {
                Some(a) if a.len() >= 6 && a.len() % 2 == 0 => a,
                _ => return fail("Invalid AOF manifest file format", shown),
            };
            let (mut name, mut seq, mut kind) = (None, 0i64, None);
            for pair in args.chunks_exact(2) {
                let key = pair[0].to_ascii_lowercase();
                match key.as_slice() {
                    b"file" => {
                        let n = String::from_utf8_lossy(&pair[1]).into_owned();
                        if n.contains('/') {
                            return fail("File can't be a path, just a filename", shown);
                        }
                        name = Some(n);
                    }
                    b"seq" => seq = atoll(&pair[1]),
                    b"type" => kind = pair[1].first().copied(),
                    _ => {}
                }
            }
            let (Some(name), true, Some(kind)) = (name, seq != 0, kind.filter(|&k| k != 0)) else {
                return fail("Invalid AOF manifest file format", shown);
            };
            match kind {
                b'b' => {
                    if m.base.is_some() {
                        return fail("Found duplicate base file information", shown);
                    }
                    m.base_seq = seq;
                    m.base = Some(AofFile {
                        name,
                        seq,
                        kind: FileType::Base,
                    });
                }
                b'h' => m.history.push(AofFile {
                    name,
                    seq,
                    kind: FileType::History,
                }),
                b'i' => {
                    if seq <= max_incr {
                        return fail("Found a non-monotonic sequence number", shown);
                    }
                    max_incr = seq;
                    m.incr_seq = seq;
                    m.incr.push(AofFile {
                        name,
                        seq,
                        kind: FileType::Incr,
                    });
                }
                _ => return fail("Unknown AOF file type", shown),
            }
        }
        if lines == 0 {
            return fail("Found an empty AOF manifest", None);
        }
        Ok(m)
    }

    /// The manifest's text: the base first, then history, then incr files.
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        for f in self.base.iter().chain(&self.history).chain(&self.incr) {
            let name = if needs_repr(f.name.as_bytes()) {
                let mut quoted = Vec::new();
                crate::exec::monitor::repr(&mut quoted, f.name.as_bytes());
                String::from_utf8_lossy(&quoted).into_owned()
            } else {
                f.name.clone()
            };
            out.push_str(&format!(
                "file {name} seq {} type {}\n",
                f.seq,
                f.kind.letter()
            ));
        }
        out
    }

    /// Whether the manifest lists no base and no incr file (nothing to load).
    pub(crate) fn is_empty(&self) -> bool {
        self.base.is_none() && self.incr.is_empty()
    }

    /// Names a new base file (`<name>.<seq>.base.rdb` or `.base.aof`) and makes the
    /// current base history.
    pub(crate) fn new_base(&mut self, aof_name: &str, rdb: bool) -> String {
        if let Some(mut old) = self.base.take() {
            old.kind = FileType::History;
            self.history.insert(0, old);
        }
        self.base_seq += 1;
        let name = format!(
            "{aof_name}.{}.base.{}",
            self.base_seq,
            if rdb { "rdb" } else { "aof" }
        );
        self.base = Some(AofFile {
            name: name.clone(),
            seq: self.base_seq,
            kind: FileType::Base,
        });
        name
    }

    /// Names a new incr file (`<name>.<seq>.incr.aof`) and lists it last.
    pub(crate) fn new_incr(&mut self, aof_name: &str) -> String {
        self.incr_seq += 1;
        let name = format!("{aof_name}.{}.incr.aof", self.incr_seq);
        self.incr.push(AofFile {
            name: name.clone(),
            seq: self.incr_seq,
            kind: FileType::Incr,
        });
        name
    }

    /// The incr file appends go to: the last one, or a new one if there is none.
    pub(crate) fn last_incr(&mut self, aof_name: &str) -> String {
        match self.incr.last() {
            Some(f) => f.name.clone(),
            None => self.new_incr(aof_name),
        }
    }

    /// After a rewrite: the incr files the new base covers become history (all of them
    /// with the AOF off; all but the one being appended to with it on).
    pub(crate) fn mark_rewritten_incr_history(&mut self, keep_last: bool) {
        let keep = usize::from(keep_last && !self.incr.is_empty());
        let split = self.incr.len() - keep;
        let done: Vec<AofFile> = self.incr.drain(..split).collect();
        // Redis moves them newest first to the head of the history list.
        for mut f in done {
            f.kind = FileType::History;
            self.history.insert(0, f);
        }
    }

    /// Writes the manifest to `dir` atomically: `temp-<name>.manifest`, fsync, rename,
    /// fsync of the directory. Errors are worded as Redis logs them.
    pub(crate) fn persist(&self, dir: &Path, aof_name: &str) -> Result<(), String> {
        let name = manifest_name(aof_name);
        let tmp_name = format!("temp-{name}");
        let tmp = dir.join(&tmp_name);
        let path = dir.join(&name);
        let mut f = std::fs::File::create(&tmp)
            .map_err(|e| format!("Can't open the AOF manifest file {tmp_name}: {e}"))?;
        f.write_all(self.to_text().as_bytes()).map_err(|e| {
            format!("Error trying to write the temporary AOF manifest file {tmp_name}: {e}")
        })?;
        f.sync_all()
            .map_err(|e| format!("Fail to fsync the temp AOF file {tmp_name}: {e}."))?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            format!("Error trying to rename the temporary AOF manifest file {tmp_name} into {name}: {e}")
        })?;
        sync_dir(dir).map_err(|e| format!("Fail to fsync AOF directory {}: {e}.", path.display()))
    }
}

/// fsyncs a directory, so a rename or a new file in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Loads `dir/<name>.manifest` as Redis does at start: no directory or no manifest is an
/// empty manifest; a bad one is an error (the lines Redis logs before it exits).
pub(crate) fn load(dir: &Path, aof_name: &str) -> Result<Manifest, Vec<String>> {
    let path: PathBuf = dir.join(manifest_name(aof_name));
    if !dir.is_dir() || !path.exists() {
        return Ok(Manifest::default());
    }
    let data = std::fs::read(&path).map_err(|e| {
        vec![format!(
            "Fatal error: can't open the AOF manifest file {} for reading: {}",
            path.display(),
            crate::strerror(&e)
        )]
    })?;
    Manifest::parse(&data).map_err(|(err, line)| {
        let mut lines = vec!["*** FATAL AOF MANIFEST FILE ERROR ***".to_string()];
        if let Some((n, text)) = line {
            lines.push(format!("Reading the manifest file, at line {n}"));
            lines.push(format!(">>> '{text}'"));
        }
        lines.push(err);
        lines
    })
}

/// sdstrim(" \t\r\n") of a line.
fn trim(s: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = s.iter().position(|b| !ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !ws(b)).map_or(start, |i| i + 1);
    &s[start..end.max(start)]
}

/// C's atoll: optional sign and leading digits, 0 if none.
fn atoll(s: &[u8]) -> i64 {
    let s = trim(s);
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for &b in digits.iter().take_while(|b| b.is_ascii_digit()) {
        n = n.wrapping_mul(10).wrapping_add(i64::from(b - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

/// Redis's sdsneedsrepr: a name with quotes, backslashes, spaces or unprintable bytes is
/// written quoted.
fn needs_repr(s: &[u8]) -> bool {
    s.iter()
        .any(|&b| b == b'\\' || b == b'"' || !(0x21..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        Manifest::parse(text.as_bytes()).unwrap_err().0
    }

    #[test]
    fn parses_and_writes_redis_lines() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type h\n\
                    file appendonly.aof.3.incr.aof seq 3 type i\n";
        let m = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(m.base_seq, 2);
        assert_eq!(m.incr_seq, 3);
        assert_eq!(m.history.len(), 1);
        assert_eq!(m.to_text(), text);
    }

    #[test]
    fn errors_are_redis_texts() {
        assert_eq!(parse_err(""), "Found an empty AOF manifest");
        assert_eq!(
            parse_err("file a seq 2 type i\nfile b seq 1 type i\n"),
            "Found a non-monotonic sequence number"
        );
        assert_eq!(
            parse_err("file a seq 1 type i\n\nfile b seq 3 type i\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            parse_err("file a seq 1 type b\nfile b seq 2 type b\n"),
            "Found duplicate base file information"
        );
        assert_eq!(parse_err("file a seq 1 type x\n"), "Unknown AOF file type");
        assert_eq!(
            parse_err("filx a seq 1 type b\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            parse_err("file a seq 1 type i x\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            parse_err(&format!("{}\n", "file a seq 1 type b ".repeat(60))),
            "The AOF manifest file contains too long line"
        );
        assert_eq!(
            parse_err("file ../a seq 1 type b\n"),
            "File can't be a path, just a filename"
        );
        // A line with no newline at the end of the file is too long for fgets's check.
        assert_eq!(
            parse_err("file a seq 1 type b"),
            "The AOF manifest file contains too long line"
        );
    }

    #[test]
    fn extra_pairs_and_comments_are_accepted() {
        let m = Manifest::parse(b"# c\nfile a seq 1 type b newkey newvalue\n").unwrap();
        assert_eq!(m.base.unwrap().name, "a");
    }

    #[test]
    fn rewrite_steps_name_files_as_redis() {
        let mut m = Manifest::default();
        assert_eq!(
            m.new_base("appendonly.aof", true),
            "appendonly.aof.1.base.rdb"
        );
        assert_eq!(m.last_incr("appendonly.aof"), "appendonly.aof.1.incr.aof");
        assert_eq!(m.new_incr("appendonly.aof"), "appendonly.aof.2.incr.aof");
        assert_eq!(
            m.new_base("appendonly.aof", false),
            "appendonly.aof.2.base.aof"
        );
        m.mark_rewritten_incr_history(true);
        assert_eq!(
            m.to_text(),
            "file appendonly.aof.2.base.aof seq 2 type b\n\
             file appendonly.aof.1.incr.aof seq 1 type h\n\
             file appendonly.aof.1.base.rdb seq 1 type h\n\
             file appendonly.aof.2.incr.aof seq 2 type i\n"
        );
    }

    #[test]
    fn names_with_spaces_are_quoted_and_read_back() {
        let mut m = Manifest::default();
        m.new_base(" file seq \n\n.aof ", true);
        let text = m.to_text();
        assert_eq!(
            text,
            "file \" file seq \\n\\n.aof .1.base.rdb\" seq 1 type b\n"
        );
        assert_eq!(Manifest::parse(text.as_bytes()).unwrap(), m);
    }
}
