//! What a node needs to run in a container: its own address and the cluster password
//! from the environment, and a health check the image runs (the image has no shell).
//!
//! `rubra server ... --cluster-announce-ip auto` announces the container's own IPv4
//! address, which only exists once the container runs, so neither `rubra up --runtime
//! docker` nor a compose file can write it down beforehand. The password comes from
//! `RUBRA_PASSWORD` (or the file named by `RUBRA_PASSWORD_FILE`, e.g. a Swarm secret)
//! unless the arguments give `--requirepass`.

use crate::resp::Conn;
use std::process::ExitCode;

/// The cluster password from `RUBRA_PASSWORD`, else from the file `RUBRA_PASSWORD_FILE`.
pub fn env_password() -> Option<String> {
    if let Ok(p) = std::env::var("RUBRA_PASSWORD") {
        if !p.is_empty() {
            return Some(p);
        }
    }
    let f = std::env::var("RUBRA_PASSWORD_FILE").ok()?;
    let generate = std::env::var("RUBRA_PASSWORD_GENERATE").is_ok_and(|v| v == "yes");
    file_password(std::path::Path::new(&f), generate)
}

/// The password in `path`. With `generate`, a missing file is created with a random
/// password first: the services of a compose file share it through a volume, and
/// whichever starts first writes it (a hard link publishes the complete file at once,
/// and fails if another got there first). Without `generate` a missing file (say, an
/// absent Swarm secret) stays an absence, never a second password.
fn file_password(path: &std::path::Path, generate: bool) -> Option<String> {
    for _ in 0..50 {
        match std::fs::read_to_string(path) {
            Ok(p) if !p.trim().is_empty() => return Some(p.trim().to_string()),
            Ok(_) => {}
            Err(_) if generate => {
                let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                if crate::state::write_private(&tmp, crate::state::generate_password().as_bytes())
                    .is_ok()
                {
                    let _ = std::fs::hard_link(&tmp, path);
                    let _ = std::fs::remove_file(&tmp);
                    continue;
                }
                return None;
            }
            Err(_) => return None,
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    None
}

/// Node arguments with `auto` announce addresses resolved and the environment's
/// password added; an error message when `auto` finds no address.
pub fn prepare(mut args: Vec<String>) -> Result<Vec<String>, String> {
    let mut i = 0;
    while i + 1 < args.len() {
        if args[i] == "--cluster-announce-ip" && args[i + 1] == "auto" {
            args[i + 1] = own_ipv4().ok_or("cluster-announce-ip auto: no IPv4 address found")?;
        }
        i += 1;
    }
    if !args.iter().any(|a| a == "--requirepass") {
        if let Some(pw) = env_password() {
            args.extend([
                "--requirepass".into(),
                pw.clone(),
                "--masterauth".into(),
                pw,
            ]);
        }
    }
    Ok(args)
}

/// The first IPv4 address of an interface that is up and not loopback: in a container,
/// its address on its (first) network.
pub fn own_ipv4() -> Option<String> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return None;
    }
    let mut found = None;
    let mut cur = head;
    while !cur.is_null() && found.is_none() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        let up = ifa.ifa_flags & (libc::IFF_UP as u32) != 0;
        if up && !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr is non-null and points to a sockaddr of its family.
            let fam = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            if fam == libc::AF_INET {
                // SAFETY: AF_INET addresses are sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !ip.is_loopback() {
                    found = Some(ip.to_string());
                }
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    found
}

/// The image's HEALTHCHECK: success only when the node on 127.0.0.1:`port` accepts the
/// password and answers PING with PONG (not while loading, not when it refuses).
pub fn healthcheck(port: u16) -> ExitCode {
    let pw = env_password();
    let r = Conn::connect(&format!("127.0.0.1:{port}"), pw.as_deref())
        .and_then(|mut c| c.cmd(&["PING"]));
    match r {
        Ok(crate::resp::Value::Simple(s)) if s == "PONG" => ExitCode::SUCCESS,
        Ok(v) => {
            eprintln!("unhealthy: PING answered {v:?}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("unhealthy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_password_file_is_generated_once() {
        let d = std::env::temp_dir().join(format!("rubra-pwfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        let f = d.join("password");
        assert_eq!(file_password(&f, false), None, "no file, no generation");
        let a = file_password(&f, true).expect("generated");
        assert_eq!(a.len(), 32);
        assert_eq!(
            file_password(&f, true).as_deref(),
            Some(a.as_str()),
            "read, not replaced"
        );
        assert_eq!(file_password(&f, false).as_deref(), Some(a.as_str()));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn auto_becomes_an_address_and_explicit_passwords_win() {
        let a = prepare(vec![
            "--port".into(),
            "7000".into(),
            "--requirepass".into(),
            "x".into(),
        ])
        .expect("prepare");
        assert_eq!(a.len(), 4, "an explicit --requirepass is kept alone: {a:?}");
        if let Some(ip) = own_ipv4() {
            let a = prepare(vec!["--cluster-announce-ip".into(), "auto".into()]).expect("auto");
            assert_eq!(a[1], ip);
            assert!(ip
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|i| !i.is_loopback()));
        }
    }
}
