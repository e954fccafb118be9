//! Port checks before nodes start.
//!
//! A node that cannot bind its client or bus port fails minutes into `rubra up` with
//! "node N did not come up". Checking every port first turns that into one clear line
//! naming the port and what holds it. The kernel also hands out ports of its ephemeral
//! range to outgoing connections at any moment, so a base port whose ports fall inside
//! that range works or fails at random; we say so before starting.

use anyhow::{bail, Result};
use std::fmt;
use std::ops::RangeInclusive;

/// Redis's convention: a node's cluster bus listens on its client port + 10000.
pub const BUS_OFFSET: u16 = 10000;

/// What a port is for, so a message can say which node needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// The client port of the node on this port.
    Client(u16),
    /// The cluster bus port of the node whose client port is given.
    Bus(u16),
}

impl fmt::Display for Use {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Use::Client(p) => write!(f, "client port of node {p}"),
            Use::Bus(p) => write!(f, "cluster bus port of node {p}"),
        }
    }
}

/// Every port the nodes on `client_ports` listen on, with what each is for.
pub fn node_ports(client_ports: &[u16]) -> Vec<(u16, Use)> {
    let mut all = Vec::with_capacity(client_ports.len() * 2);
    for &p in client_ports {
        all.push((p, Use::Client(p)));
        if let Some(bus) = p.checked_add(BUS_OFFSET) {
            all.push((bus, Use::Bus(p)));
        }
    }
    all
}

/// Fails with one line per taken port (and what holds it) when any node port cannot be
/// bound now. Binds as the node does (the wildcard address, address reuse on), so a port
/// left in TIME_WAIT by an earlier run counts as free, as it is for the node.
pub fn check_free(client_ports: &[u16]) -> Result<()> {
    let taken: Vec<String> = node_ports(client_ports)
        .into_iter()
        .filter(|(port, _)| !bindable_soon(*port))
        .map(|(port, why)| match holder(port) {
            Some(h) => format!("port {port} ({why}) is taken: {h}"),
            None => format!("port {port} ({why}) is taken"),
        })
        .collect();
    if !taken.is_empty() {
        bail!(
            "{}\nchoose another --base-port, or stop what holds the port",
            taken.join("\n")
        );
    }
    Ok(())
}

/// Whether a listener could bind `port` on every address right now.
pub fn bindable(port: u16) -> bool {
    std::net::TcpListener::bind(("0.0.0.0", port)).is_ok()
}

/// A warning when some node ports fall inside the kernel's ephemeral port range
/// (`net.ipv4.ip_local_port_range`): any outgoing connection may take one of them.
pub fn ephemeral_warning(client_ports: &[u16]) -> Option<String> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let range = parse_range(&text)?;
    overlap_warning(client_ports, &range)
}

/// The warning text for `client_ports` against an ephemeral `range` (pure, for tests).
pub fn overlap_warning(client_ports: &[u16], range: &RangeInclusive<u16>) -> Option<String> {
    let inside: Vec<u16> = node_ports(client_ports)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| range.contains(p))
        .collect();
    let (first, last) = (inside.iter().min()?, inside.iter().max()?);
    let count = client_ports.len() as u16;
    // The highest base port whose bus ports all stay below the range.
    let safe = range
        .start()
        .saturating_sub(BUS_OFFSET)
        .saturating_sub(count);
    Some(format!(
        "warning: {} node ports ({first}..={last}) are inside the kernel's ephemeral port range \
         {}-{} (net.ipv4.ip_local_port_range): an outgoing connection can take one at any time \
         and a node will then fail to start; use a --base-port of at most {safe}",
        inside.len(),
        range.start(),
        range.end()
    ))
}

/// Parses `ip_local_port_range` ("32768\t60999\n").
pub fn parse_range(text: &str) -> Option<RangeInclusive<u16>> {
    let mut it = text.split_whitespace().map(|s| s.parse::<u16>().ok());
    let (lo, hi) = (it.next()??, it.next()??);
    (lo <= hi).then_some(lo..=hi)
}

/// Whether `port` can be bound now or within a few seconds: connections of a process that
/// just died (a node killed, then `rubra up` again) hold its ports until the kernel has
/// finished closing them (FIN_WAIT1 while the peer acknowledges), and nobody can speed
/// that up; a listener or a live connection is waited for no longer than it takes to look.
pub fn bindable_soon(port: u16) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if bindable(port) {
            return true;
        }
        let sockets = sockets_on(port);
        if sockets.is_empty() || !sockets.iter().all(|s| closing(s.state)) {
            return false;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// States of a socket whose process has let go of it and the kernel is closing.
fn closing(state: u8) -> bool {
    // FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, LAST_ACK, CLOSING
    matches!(state, 0x04 | 0x05 | 0x06 | 0x07 | 0x09 | 0x0B)
}

/// Every TCP socket (IPv4 and IPv6) whose local port is `port`.
fn sockets_on(port: u16) -> Vec<Socket> {
    let mut sockets = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            sockets.extend(
                text.lines()
                    .filter_map(parse_socket_line)
                    .filter(|s| s.local_port == port),
            );
        }
    }
    sockets
}

/// Who holds local TCP `port`: a listener or a connection, and the process when visible.
pub fn holder(port: u16) -> Option<String> {
    let sockets = sockets_on(port);
    let s = sockets
        .iter()
        // A listener explains a taken port best; else any connection using it.
        .min_by_key(|s| s.state != LISTEN)?;
    let what = if s.state == LISTEN {
        "listening".to_string()
    } else {
        format!("used by a connection ({})", state_name(s.state))
    };
    Some(match process_of(s.inode) {
        Some((pid, comm)) => format!("{what}, by pid {pid} ({comm})"),
        None => what,
    })
}

/// The kernel's TCP state number for LISTEN in /proc/net/tcp.
const LISTEN: u8 = 0x0A;

fn state_name(state: u8) -> &'static str {
    match state {
        0x01 => "ESTABLISHED",
        0x02 => "SYN_SENT",
        0x03 => "SYN_RECV",
        0x04 => "FIN_WAIT1",
        0x05 => "FIN_WAIT2",
        0x06 => "TIME_WAIT",
        0x07 => "CLOSE",
        0x08 => "CLOSE_WAIT",
        0x09 => "LAST_ACK",
        0x0A => "LISTEN",
        0x0B => "CLOSING",
        _ => "unknown state",
    }
}

/// One row of /proc/net/tcp{,6}: the fields a port check needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// The local port.
    pub local_port: u16,
    /// The TCP state number.
    pub state: u8,
    /// The socket's inode, to find the process holding it.
    pub inode: u64,
}

/// Parses a row such as `0: 0100007F:1B58 00000000:0000 0A ... 0 0 21897 1 ...`;
/// the header and malformed rows give `None`.
pub fn parse_socket_line(line: &str) -> Option<Socket> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 10 || !f[0].ends_with(':') {
        return None;
    }
    let port_hex = f[1].rsplit(':').next()?;
    Some(Socket {
        local_port: u16::from_str_radix(port_hex, 16).ok()?,
        state: u8::from_str_radix(f[3], 16).ok()?,
        inode: f[9].parse().ok()?,
    })
}

/// The process whose open files include socket `inode` (when /proc lets us see it).
fn process_of(inode: u64) -> Option<(u32, String)> {
    if inode == 0 {
        return None;
    }
    let target = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str())
        });
        if holds {
            let comm = std::fs::read_to_string(entry.path().join("comm"))
                .map(|c| c.trim().to_string())
                .unwrap_or_default();
            return Some((pid, comm));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_is_not_waited_for_but_a_closing_connection_is() {
        let l = std::net::TcpListener::bind(("0.0.0.0", 0)).expect("bind");
        let port = l.local_addr().expect("addr").port();
        let t0 = std::time::Instant::now();
        assert!(!bindable_soon(port), "a listener holds the port");
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(1),
            "waited for a listener"
        );
        drop(l);
        assert!(bindable_soon(port));
        for state in [0x04, 0x05, 0x06, 0x09, 0x0B] {
            assert!(closing(state), "{}", state_name(state));
        }
        for state in [0x01, 0x08, LISTEN] {
            assert!(!closing(state), "{}", state_name(state));
        }
    }

    #[test]
    fn proc_net_tcp_rows() {
        let row = "   0: 0100007F:1B58 00000000:0000 0A 00000000:00000000 00:00000000 \
                   00000000     0        0 21897 1 0000000004c6fde1 100 0 0 10 0";
        assert_eq!(
            parse_socket_line(row),
            Some(Socket {
                local_port: 7000,
                state: LISTEN,
                inode: 21897
            })
        );
        let v6 =
            "   3: 00000000000000000000000001000000:4269 00000000000000000000000001000000:1B58 \
                  01 00000000:00000000 00:00000000 00000000     0        0 555 1 0 20 4 30 10 -1";
        assert_eq!(
            parse_socket_line(v6).map(|s| (s.local_port, s.state)),
            Some((17001, 1))
        );
        assert_eq!(
            parse_socket_line("  sl  local_address rem_address   st tx_queue rx_queue"),
            None
        );
        assert_eq!(parse_socket_line("garbage"), None);
    }

    #[test]
    fn ephemeral_range_and_overlap() {
        assert_eq!(parse_range("32768\t60999\n"), Some(32768..=60999));
        assert_eq!(parse_range("5 4"), None);
        assert_eq!(parse_range(""), None);
        let range = 32768..=60999;
        let low: Vec<u16> = (7000..7006).collect();
        assert_eq!(overlap_warning(&low, &range), None);
        // Client ports below the range, bus ports inside it.
        let high: Vec<u16> = (30000..30006).collect();
        let w = overlap_warning(&high, &range).expect("bus ports overlap");
        assert!(w.contains("6 node ports (40000..=40005)"), "{w}");
        assert!(w.contains("at most 22762"), "{w}");
        // The suggested base really keeps every port below the range.
        let safe: Vec<u16> = (22762..22768).collect();
        assert_eq!(overlap_warning(&safe, &range), None);
    }

    #[test]
    fn a_taken_port_is_named_with_its_holder() {
        let l = std::net::TcpListener::bind(("0.0.0.0", 0)).expect("bind");
        let port = l.local_addr().expect("addr").port();
        assert!(!bindable(port));
        let err = check_free(&[port]).expect_err("taken").to_string();
        assert!(err.contains(&format!(
            "port {port} (client port of node {port}) is taken"
        )));
        let me = std::process::id();
        assert!(err.contains(&format!("listening, by pid {me}")), "{err}");
        drop(l);
        assert!(bindable(port), "a closed listener leaves the port free");
    }
}
