//! The harness of `fuzz_propagation_differential` (its header says what is compared and
//! why): a raw replica link per server, client connections, the generated steps
//! (`generate`), the stream and dataset comparison (`compare`), and the rig that runs a
//! sequence on both servers.

mod compare;
mod generate;

use crate::fuzz_kit::{frame, Pair};
use crate::reference::Reference;
use compare::{as_redis_stream_carries, dataset, same_stream, show_stream};
pub(crate) use generate::sequence;
use generate::LIBRARY;
use rubra_resp::{parse_frame, Frame};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Databases the generator uses and the dataset check reads.
const DBS: usize = 4;

/// A connection that acts as a replica of one server and reads its replication stream.
struct Replica {
    stream: TcpStream,
    buf: Vec<u8>,
    /// When the last REPLCONF ACK went out (a primary drops a replica silent for
    /// repl-timeout).
    acked: Instant,
}

impl Replica {
    /// Connects to `port`, does a replica's handshake and full sync, and acknowledges the
    /// snapshot (a diskless sync starts the stream on the first ACK).
    fn attach(port: u16) -> Replica {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let _ = stream.set_nodelay(true);
        let mut r = Replica {
            stream,
            buf: Vec::new(),
            acked: Instant::now(),
        };
        r.send(&["REPLCONF", "listening-port", "6999"]);
        assert_eq!(r.line(), b"+OK");
        r.send(&["REPLCONF", "capa", "eof", "capa", "psync2"]);
        assert_eq!(r.line(), b"+OK");
        r.send(&["PSYNC", "?", "-1"]);
        let full = r.line();
        assert!(full.starts_with(b"+FULLRESYNC "), "{}", full.escape_ascii());
        r.skip_rdb();
        r.send(&["REPLCONF", "ACK", "0"]);
        r
    }

    /// Writes one command.
    fn send(&mut self, args: &[&str]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.stream.write_all(&out).expect("write");
    }

    /// Reads more bytes into the buffer, waiting at most `wait`; false if none came.
    fn fill(&mut self, wait: Duration) -> bool {
        let _ = self
            .stream
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))));
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => panic!(
                "the primary at port {:?} closed the replication link",
                self.stream.peer_addr().map(|a| a.port())
            ),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(_) => false,
        }
    }

    /// One line without its CRLF; the bare newlines a primary sends while it prepares the
    /// snapshot are skipped.
    fn line(&mut self) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            while self.buf.first() == Some(&b'\n') {
                self.buf.remove(0);
            }
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return line;
            }
            assert!(Instant::now() < deadline, "no line from the primary");
            self.fill(Duration::from_millis(100));
        }
    }

    /// Reads the RDB payload: `$<len>\r\n<bytes>` or `$EOF:<40 bytes>\r\n...<40 bytes>`.
    fn skip_rdb(&mut self) {
        let head = self.line();
        let deadline = Instant::now() + Duration::from_secs(10);
        if let Some(mark) = head.strip_prefix(b"$EOF:") {
            let mark = mark.to_vec();
            loop {
                if let Some(i) = self.buf.windows(mark.len()).position(|w| w == mark) {
                    self.buf.drain(..i + mark.len());
                    return;
                }
                assert!(Instant::now() < deadline, "no end of the RDB payload");
                self.fill(Duration::from_millis(100));
            }
        }
        let len: usize = std::str::from_utf8(&head[1..])
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad RDB header {}", head.escape_ascii()));
        while self.buf.len() < len {
            assert!(Instant::now() < deadline, "short RDB payload");
            self.fill(Duration::from_millis(100));
        }
        self.buf.drain(..len);
    }

    /// The next propagated command (its arguments), waiting up to 10 s; ACKs are sent
    /// while nothing comes.
    fn next_command(&mut self) -> Cmd {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some((f, used)) = parse_frame(&self.buf, usize::MAX / 2).expect("bad frame") {
                self.buf.drain(..used);
                let Frame::Array(items) = f else {
                    panic!("not a command in the stream: {f:?}");
                };
                return items
                    .into_iter()
                    .map(|i| match i {
                        Frame::Bulk(b) => b.to_vec(),
                        other => panic!("not a bulk argument: {other:?}"),
                    })
                    .collect();
            }
            assert!(Instant::now() < deadline, "the barrier did not arrive");
            if !self.fill(Duration::from_millis(100)) {
                // A replica acknowledges every second; the stream of a diskless sync starts
                // on an ACK that comes after the primary finished the transfer.
                self.send(&["REPLCONF", "ACK", "0"]);
            }
        }
    }

    /// Every command propagated before `PUBLISH __barrier <n>` (which the caller just
    /// sent), without the link's own PING / REPLCONF.
    fn until_barrier(&mut self, n: u64) -> Vec<Cmd> {
        if self.acked.elapsed() > Duration::from_secs(1) {
            self.send(&["REPLCONF", "ACK", "0"]);
            self.acked = Instant::now();
        }
        let mark = n.to_string().into_bytes();
        let mut out = Vec::new();
        loop {
            let cmd = self.next_command();
            let name = cmd[0].to_ascii_uppercase();
            if name == b"PUBLISH" && cmd.len() == 3 && cmd[1] == b"__barrier" && cmd[2] == mark {
                return out;
            }
            if name != b"PING" && name != b"REPLCONF" {
                out.push(cmd);
            }
        }
    }
}

/// One server under test: its client connections, its replication stream and the
/// redis-server its stream is applied to.
struct Side {
    main: Conn,
    blocker: Conn,
    blocker_id: i64,
    link: Replica,
    applier: Conn,
    /// Barrier numbers, unique over the run.
    barrier: u64,
}

impl Side {
    /// Attaches to the server at `port`; the stream is applied to `applier_port`.
    fn new(port: u16, applier_port: u16) -> Side {
        let mut main = Conn::connect(port);
        assert_eq!(main.call("DEBUG SET-ACTIVE-EXPIRE 0"), b"+OK\r\n");
        let mut blocker = Conn::connect(port);
        let blocker_id = match frame(&blocker.call("CLIENT ID")) {
            Some(Frame::Int(n)) => n,
            other => panic!("CLIENT ID: {other:?}"),
        };
        let mut applier = Conn::connect(applier_port);
        assert_eq!(applier.call("DEBUG SET-ACTIVE-EXPIRE 0"), b"+OK\r\n");
        let link = Replica::attach(port);
        let mut side = Side {
            main,
            blocker,
            blocker_id,
            link,
            applier,
            barrier: 0,
        };
        // Once a barrier arrives the snapshot is over: Redis's FLUSHALL would kill a
        // snapshot child not yet reaped, and the link with it.
        side.drain();
        side
    }

    /// Sends the barrier and returns what was propagated since the last one, after
    /// applying it to the applier; the applier's error replies are returned as well.
    fn drain(&mut self) -> (Vec<Cmd>, Vec<String>) {
        self.barrier += 1;
        let n = self.barrier;
        self.main.call(&format!("PUBLISH __barrier {n}"));
        let cmds = self.link.until_barrier(n);
        let mut errors = Vec::new();
        for c in &cmds {
            let reply = self.applier.call_args(c);
            if reply.first() == Some(&b'-') {
                errors.push(format!("{} -> {}", show_cmd(c), reply.escape_ascii()));
            }
        }
        (cmds, errors)
    }

    /// Runs one step on this server.
    fn run(&mut self, step: &Step) {
        match step {
            Step::Cmd(line) => {
                self.main.call(line);
            }
            Step::Expiring(line) => {
                self.main.call(line);
                std::thread::sleep(Duration::from_millis(3));
            }
            Step::Multi(lines) => {
                for l in lines {
                    self.main.call(l);
                }
            }
            Step::DumpRestore(src, restore) => {
                let dump = self.main.call(&format!("DUMP {src}"));
                if let Some(Frame::Bulk(payload)) = frame(&dump) {
                    let mut args = split(restore);
                    args.insert(3, payload.to_vec());
                    self.main.call_args(&args);
                }
            }
            Step::Block(blocking, feed) => self.block(blocking, feed),
        }
    }

    /// `blocking` on the second connection; if it blocks, `feed` on the main one, and if
    /// that does not serve it, CLIENT UNBLOCK (which propagates nothing).
    fn block(&mut self, blocking: &str, feed: &str) {
        self.blocker.send(blocking);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.blocker.next_within(Duration::from_millis(2)).is_some() {
                return;
            }
            if blocked_clients(&mut self.main) >= 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{blocking}: neither blocked nor answered"
            );
        }
        self.main.call(feed);
        if self
            .blocker
            .next_within(Duration::from_millis(30))
            .is_some()
        {
            return;
        }
        self.main
            .call(&format!("CLIENT UNBLOCK {}", self.blocker_id));
        let got = self.blocker.next_within(Duration::from_secs(5));
        assert!(got.is_some(), "{blocking}: not unblocked");
    }
}

/// `INFO clients`' blocked_clients.
fn blocked_clients(conn: &mut Conn) -> i64 {
    let info = conn.call("INFO clients");
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|l| l.strip_prefix("blocked_clients:")?.trim().parse().ok())
        .unwrap_or(0)
}

/// One command as its arguments.
type Cmd = Vec<Vec<u8>>;

/// A command line (redis-cli quoting) as its arguments.
fn split(line: &str) -> Cmd {
    let args = rubra_resp::split_args(line.as_bytes()).expect("bad quoting");
    args.into_iter().map(|a| a.to_vec()).collect()
}

/// A client connection (raw replies), able to send binary arguments.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects to `port`.
    fn connect(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends one command given as its arguments.
    fn send_args(&mut self, args: &[Vec<u8>]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&out).expect("write");
    }

    /// Sends one command line (redis-cli quoting).
    fn send(&mut self, line: &str) {
        self.send_args(&split(line));
    }

    /// Sends one command line and returns its reply.
    fn call(&mut self, line: &str) -> Vec<u8> {
        self.send(line);
        self.reply()
    }

    /// Sends one command given as its arguments and returns its reply.
    fn call_args(&mut self, args: &[Vec<u8>]) -> Vec<u8> {
        self.send_args(args);
        self.reply()
    }

    /// The next reply, waiting up to 10 s.
    fn reply(&mut self) -> Vec<u8> {
        match self.next_within(Duration::from_secs(10)) {
            Some(r) => r,
            None => panic!("no reply within 10 s"),
        }
    }

    /// The next complete reply if one arrives within `wait`.
    fn next_within(&mut self, wait: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some((_, used)) = parse_frame(&self.buf, usize::MAX / 2).expect("bad frame") {
                return Some(self.buf.drain(..used).collect());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let _ = self.stream.set_read_timeout(Some(left));
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("connection closed"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
    }
}

/// A command as a readable line.
fn show_cmd(c: &[Vec<u8>]) -> String {
    c.iter()
        .map(|a| format!("\"{}\"", a.escape_ascii()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One generated step.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// One command on the main connection.
    Cmd(String),
    /// One command giving a key a 1 ms expiry, then a 3 ms pause: the key is expired on
    /// both servers when the next step touches it.
    Expiring(String),
    /// MULTI ... EXEC (or DISCARD), one step so the barrier is never queued.
    Multi(Vec<String>),
    /// DUMP of the key, then this RESTORE line with the payload inserted as its third
    /// argument.
    DumpRestore(String, String),
    /// A blocking command on the second connection, then a command on the main one that
    /// may serve it.
    Block(String, String),
}

/// How a step is printed in a report.
pub(crate) fn show_step(s: &Step) -> String {
    match s {
        Step::Cmd(l) => l.clone(),
        Step::Expiring(l) => format!("{l}    (then 3 ms)"),
        Step::Multi(ls) => ls.join(" ; "),
        Step::DumpRestore(src, r) => format!("DUMP {src} -> {r} <payload>"),
        Step::Block(b, f) => format!("[blocker] {b}  ||  [main] {f}"),
    }
}

/// The two servers and their links and appliers.
pub(crate) struct Rig {
    rubra: Side,
    redis: Side,
    /// The redis-servers the streams are applied to (kept alive here).
    _appliers: (Reference, Reference),
}

impl Rig {
    /// Attaches to both servers of `pair`.
    pub(crate) fn new(pair: &Pair) -> Rig {
        let for_rubra = Reference::start_with(&["--enable-debug-command", "yes"]);
        let for_redis = Reference::start_with(&["--enable-debug-command", "yes"]);
        Rig {
            rubra: Side::new(pair.rubra.port, for_rubra.port),
            redis: Side::new(pair.redis.port, for_redis.port),
            _appliers: (for_rubra, for_redis),
        }
    }

    /// Back to an empty keyspace in database 0 with the library loaded, on both servers;
    /// what that propagated is drained (and applied).
    fn reset(&mut self) -> Option<String> {
        for s in [&mut self.rubra, &mut self.redis] {
            s.main.call("DISCARD");
            s.main.call("CONFIG SET lazyfree-lazy-expire no");
            s.main.call("SELECT 0");
            s.main.call("FLUSHALL");
            s.main.call(&format!("FUNCTION LOAD REPLACE {LIBRARY}"));
        }
        self.compare("(reset)")
    }

    /// Drains both streams and compares them; also any error applying them. After SCAN
    /// or RANDOMKEY (alone or in a transaction) the commands are compared in any order:
    /// the DELs of the expired keys they meet come in hash-table order (or at random).
    fn compare(&mut self, what: &str) -> Option<String> {
        let (mut a, ea) = self.rubra.drain();
        let (mut b, eb) = self.redis.drain();
        let any_order = what.split(" ; ").any(|c| {
            let first = c.split_whitespace().next().unwrap_or("");
            first.eq_ignore_ascii_case("scan") || first.eq_ignore_ascii_case("randomkey")
        });
        if any_order {
            a.sort();
            b.sort();
        }
        if !same_stream(&a, &b) {
            return Some(format!(
                "{what}: propagated\n    rubra: {}\n    redis: {}",
                show_stream(&a),
                show_stream(&b)
            ));
        }
        if !ea.is_empty() || !eb.is_empty() {
            return Some(format!(
                "{what}: the stream fails when applied\n    rubra: {ea:?}\n    redis: {eb:?}"
            ));
        }
        None
    }

    /// Runs `seq`; the first difference.
    pub(crate) fn first_difference(&mut self, seq: &[Step]) -> Option<String> {
        if let Some(d) = self.reset() {
            return Some(d);
        }
        for s in seq {
            self.rubra.run(s);
            self.redis.run(s);
            if let Some(d) = self.compare(&show_step(s)) {
                return Some(d);
            }
        }
        self.check_datasets()
    }

    /// Property 2: each primary's dataset equals its applier's. The DELs reading the
    /// dataset causes (lazy expiry) are compared as a multiset, then applied.
    fn check_datasets(&mut self) -> Option<String> {
        let mut found = Vec::new();
        for (name, s) in [("rubra", &mut self.rubra), ("redis", &mut self.redis)] {
            let primary = dataset(&mut s.main);
            let (mut cmds, errors) = s.drain();
            cmds.sort();
            found.push((name, primary, cmds, errors));
        }
        let (a, b) = (&found[0], &found[1]);
        if !same_stream(&a.2, &b.2) {
            return Some(format!(
                "(dataset read): propagated\n    rubra: {}\n    redis: {}",
                show_stream(&a.2),
                show_stream(&b.2)
            ));
        }
        for (i, s) in [&mut self.rubra, &mut self.redis].into_iter().enumerate() {
            let (name, primary, _, errors) = &found[i];
            if !errors.is_empty() {
                return Some(format!("{name}: the stream fails when applied: {errors:?}"));
            }
            let mut applied = dataset(&mut s.applier);
            let mut primary = primary.clone();
            // A Redis 7.0 stream (rubra's is the same) does not carry a group's
            // entries-read, nor a consumer a history read created (see the header).
            primary = primary.iter().map(|l| as_redis_stream_carries(l)).collect();
            applied = applied.iter().map(|l| as_redis_stream_carries(l)).collect();
            if applied != primary {
                return Some(format!(
                    "{name}'s stream does not reproduce its dataset\n    primary: {}\n    applied: {}",
                    primary.join("\n      "),
                    applied.join("\n      ")
                ));
            }
        }
        None
    }
}
