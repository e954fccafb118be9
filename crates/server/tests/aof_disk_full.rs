//! The AOF on a full disk (a 3 MB tmpfs): a write the AOF could not store is never
//! acknowledged as durable. Under `appendfsync everysec` the node refuses writes with
//! Redis's `-MISCONF Errors writing to the AOF file: No space left on device` until space
//! returns, then writes what it held back and accepts writes again; under `always` it stops
//! before answering, as Redis does. Either way every acknowledged write is in the AOF after
//! a kill -9 and restart, and the file loads cleanly (no half command).
//!
//! Mounting a tmpfs needs root (CI runs as root); elsewhere set RUBRA_SKIP_TMPFS=1 to skip.

mod common;
use common::tmpfs::Tmpfs;
use common::*;
use redis::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Takes 1 MB of the filesystem, to be given back later.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    std::fs::write(&filler, vec![0u8; 1 << 20]).expect("filler");
    filler
}

fn set(c: &mut redis::Connection, key: &str, value: &str) -> Result<(), String> {
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query::<Value>(c)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A node with its data (and AOF) on `fs`, fsyncing per `policy`.
fn start_on(fs: &Tmpfs, policy: &str) -> TestServer {
    TestServer::start(&[
        "--dir",
        fs.path(),
        "--appendonly",
        "yes",
        "--appendfsync",
        policy,
    ])
}

/// SETs up to 40 keys of `value` until one fails: the keys acknowledged, and the first error.
fn write_until_refused(c: &mut redis::Connection, value: &str) -> (Vec<String>, Option<String>) {
    let mut acked = Vec::new();
    for i in 0..40 {
        let key = format!("k{i}");
        match set(c, &key, value) {
            Ok(()) => acked.push(key),
            Err(e) => return (acked, Some(e)),
        }
    }
    (acked, None)
}

/// Every key in `acked` is present with the full value, and nothing else is.
fn assert_holds_exactly(s: &TestServer, acked: &[String], value_len: usize) {
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["DBSIZE"]), Value::Int(acked.len() as i64));
    for k in acked {
        assert_eq!(
            q(&mut c, &["STRLEN", k]),
            Value::Int(value_len as i64),
            "acknowledged key {k} lost or cut"
        );
    }
}

#[test]
fn full_disk_refuses_writes_with_misconf_then_recovers_under_everysec() {
    let Some(fs) = Tmpfs::mount("3m") else {
        return;
    };
    let filler = fill(&fs.0);
    let mut s = start_on(&fs, "everysec");
    let mut c = s.conn();
    let value = "v".repeat(200_000);
    let (mut acked, refusal) = write_until_refused(&mut c, &value);
    let refusal = refusal.expect("a full disk must refuse writes");
    assert!(refusal.contains("MISCONF"), "refused with {refusal}");
    assert!(
        acked.len() < 40,
        "{} of 40 writes acknowledged",
        acked.len()
    );
    // Byte for byte as Redis words it, and PING is refused too (health checks notice).
    assert_eq!(
        s.raw(b"PING\r\n", Duration::from_millis(300)),
        b"-MISCONF Errors writing to the AOF file: No space left on device\r\n"
    );
    assert!(s
        .cli(&["INFO", "persistence"])
        .contains("aof_last_write_status:err"));
    // Reads keep working.
    assert_eq!(
        q(&mut c, &["STRLEN", &acked[0]]),
        Value::Int(value.len() as i64)
    );

    // Space comes back: the held-back write goes out and writes are accepted again.
    std::fs::remove_file(&filler).expect("free space");
    let deadline = Instant::now() + Duration::from_secs(10);
    while q(&mut c, &["PING"]) != Value::SimpleString("PONG".into()) {
        assert!(
            Instant::now() < deadline,
            "writes still refused after space returned"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    set(&mut c, "after", &value).expect("write after recovery");
    assert!(s
        .cli(&["INFO", "persistence"])
        .contains("aof_last_write_status:ok"));
    acked.push("after".into());
    std::thread::sleep(Duration::from_millis(1500)); // the everysec fsync

    drop(c);
    assert!(s.restart(None), "restart on the recovered AOF");
    assert_holds_exactly(&s, &acked, value.len());
}

#[test]
fn full_disk_under_always_stops_before_acknowledging() {
    let Some(fs) = Tmpfs::mount("3m") else {
        return;
    };
    let filler = fill(&fs.0);
    let mut s = start_on(&fs, "always");
    let mut c = s.conn();
    let value = "v".repeat(200_000);
    let (acked, failure) = write_until_refused(&mut c, &value);
    assert!(
        failure.is_some(),
        "all 40 writes of 200 KB acknowledged on a 3 MB disk"
    );
    assert!(
        s.wait_exit(Duration::from_secs(5)).is_some(),
        "the node must stop when it cannot write the AOF under appendfsync always"
    );
    std::fs::remove_file(&filler).expect("free space");
    assert!(s.restart(None), "restart on the AOF left behind");
    assert_holds_exactly(&s, &acked, value.len());
}

/// The node's log on the same full disk (as in the chaos suite, where a node's directory
/// holds its log): the log line written on the way out fails too, and that must not keep
/// the node from stopping. It did: the log writer reported its own failure with
/// eprintln!, which panics when stderr cannot be written, so the panic unwound out of the
/// AOF append before the exit (the write stayed applied in memory, never reached the AOF
/// or the replicas, and the node ran on). Redis's logging never fails the server.
#[test]
fn full_disk_under_always_stops_even_when_the_log_cannot_be_written() {
    use std::io::Write;
    let Some(fs) = Tmpfs::mount("3m") else {
        return;
    };
    let log_path = fs.0.join("server.log");
    let log = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log on the tmpfs")
    };
    let port = free_port();
    let mut child = std::process::Command::new(rubra_bin())
        .args([
            "--port",
            &port.to_string(),
            "--dir",
            fs.path(),
            "--save",
            "",
        ])
        .args(["--appendonly", "yes", "--appendfsync", "always"])
        .stdout(log())
        .stderr(log())
        .spawn()
        .expect("spawn rubra-server");
    let url = format!("redis://127.0.0.1:{port}/");
    assert!(
        common::cluster::wait_for(Duration::from_secs(10), || redis::Client::open(
            url.as_str()
        )
        .and_then(|c| c.get_connection())
        .is_ok()),
        "the node did not start"
    );
    let mut c = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection())
        .expect("connect");
    // No room anywhere: the data and, to its last byte, the log's own last page.
    let _filler = fs.fill_up();
    let mut l = log();
    while l.write_all(b"#").is_ok() {}
    let value = "v".repeat(200_000);
    let (_acked, failure) = write_until_refused(&mut c, &value);
    assert!(failure.is_some(), "writes acknowledged on a full disk");
    let deadline = Instant::now() + Duration::from_secs(5);
    let exited = loop {
        if let Ok(Some(_)) = child.try_wait() {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        exited,
        "the node kept running after an AOF write failed under appendfsync always \
         (its log on the same full disk)"
    );
}
