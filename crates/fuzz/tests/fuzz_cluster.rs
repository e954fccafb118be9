//! Fuzz targets for the cluster bus (anyone who can reach a node's bus port controls these
//! bytes) and for nodes.conf (read at every start). Properties: `wire::decode` never panics,
//! agrees with `frame_len`, and what it accepts re-encodes to bytes that decode to the same
//! message; its memory is bounded by the frame; a live [`Node`] fed hostile but well-formed
//! frames from known and unknown senders never panics and still writes a nodes.conf that
//! parses back; `parse_nodes_conf` never panics and what it accepts renders and re-parses
//! to the same text.
//!
//! Short run: `cargo test -p rubra-fuzz --test fuzz_cluster`. Long run: see docs/fuzzing.md.

use rubra_cluster::node_lines::{parse_nodes_conf, render_nodes_conf};
use rubra_cluster::wire::{
    self, decode, encode, frame_len, Body, Gossip, Header, Message, NodeId, PingBody, SlotBitmap,
    HEADER_LEN, MAX_MSG_LEN,
};
use rubra_cluster::{Node, NodeConfig};
use rubra_fuzz::{peak_alloc_during, run, CountingAlloc, Rng, Settings, Verdict};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const SHORT: u64 = 20_000;

fn hex_id(c: char) -> String {
    std::iter::repeat_n(c, 40).collect()
}

fn id(c: char) -> NodeId {
    NodeId::from_bytes(hex_id(c).as_bytes()).expect("40 bytes")
}

/// A three-primary cluster as node `a` sees it, with replicas and a migration in flight.
fn nodes_conf() -> String {
    let (a, b, c, d) = (hex_id('a'), hex_id('b'), hex_id('c'), hex_id('d'));
    format!(
        "{a} 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 [5461-<-{b}]\n\
         {b} 127.0.0.1:30002@40002,host-b master - 0 1700000000000 2 connected 5461-10922\n\
         {c} 127.0.0.1:30003@40003 master - 0 1700000000000 3 connected 10923-16383\n\
         {d} 127.0.0.1:30004@40004 slave {a} 0 1700000000000 1 connected\n\
         vars currentEpoch 3 lastVoteEpoch 0\n"
    )
}

fn header(rng: &mut Rng, sender: NodeId) -> Header {
    let mut myslots = SlotBitmap::default();
    let start = rng.below(16384);
    for s in start..(start + rng.below(64)).min(16384) {
        myslots.set(s);
    }
    Header {
        port: 30002,
        current_epoch: rng.below(8) as u64,
        config_epoch: rng.below(8) as u64,
        offset: rng.next_u64() >> 8,
        sender,
        myslots,
        replica_of: if rng.one_in(4) { Some(id('a')) } else { None },
        myip: b"127.0.0.1".to_vec(),
        pport: 0,
        cport: 40002,
        flags: *rng.pick(&[1u16, 2, 4, 8, 1 | 8]),
        state: rng.below(2) as u8,
        mflags: [rng.below(4) as u8, 0, 0],
    }
}

fn gossip(rng: &mut Rng) -> Gossip {
    Gossip {
        node: *rng.pick(&[id('a'), id('b'), id('c'), id('d'), id('e')]),
        ping_sent: rng.below(3) as u32,
        pong_received: rng.below(3) as u32,
        ip: b"127.0.0.1".to_vec(),
        port: 30000 + rng.below(8) as u16,
        cport: 40000 + rng.below(8) as u16,
        flags: *rng.pick(&[1u16, 2, 4, 8, 16, 32]),
        pport: 0,
    }
}

/// One encoded message of every type, from known and unknown senders.
fn bus_seeds() -> Vec<Vec<u8>> {
    let mut rng = Rng::new(7);
    let mut out = Vec::new();
    for sender in [id('b'), id('c'), id('d'), id('e')] {
        let ping = |rng: &mut Rng| PingBody {
            gossip: (0..rng.below(4)).map(|_| gossip(rng)).collect(),
            hostname: if rng.one_in(2) {
                Some(b"host".to_vec())
            } else {
                None
            },
            other_exts: if rng.one_in(3) {
                vec![(5, vec![1, 2, 3])]
            } else {
                vec![]
            },
        };
        let mut slots = SlotBitmap::default();
        slots.set(rng.below(16384));
        let bodies = vec![
            Body::Ping(ping(&mut rng)),
            Body::Pong(ping(&mut rng)),
            Body::Meet(ping(&mut rng)),
            Body::Fail { node: id('c') },
            Body::Publish {
                channel: b"ch".to_vec(),
                message: b"hello".to_vec(),
            },
            Body::PublishShard {
                channel: b"s".to_vec(),
                message: b"x".to_vec(),
            },
            Body::FailoverAuthRequest,
            Body::FailoverAuthAck,
            Body::Update {
                config_epoch: 9,
                node: id('b'),
                slots,
            },
            Body::MfStart,
            Body::Module {
                module_id: 1,
                ty: 2,
                payload: b"p".to_vec(),
            },
        ];
        for body in bodies {
            let header = header(&mut rng, sender);
            out.push(encode(&Message { header, body }));
        }
    }
    out
}

/// Usually makes the envelope valid again (signature, version, total length), so mutants
/// reach the body decoders and the state machine; sometimes leaves it broken.
fn fix_envelope(rng: &mut Rng, v: &mut [u8]) {
    if v.len() < HEADER_LEN || rng.one_in(10) {
        return;
    }
    v[0..4].copy_from_slice(wire::SIGNATURE);
    v[8..10].copy_from_slice(&wire::PROTO_VER.to_be_bytes());
    let n = v.len() as u32;
    v[4..8].copy_from_slice(&n.to_be_bytes());
}

fn check_decode(buf: &[u8]) -> Verdict {
    let (res, peak) = peak_alloc_during(|| decode(buf));
    assert!(
        peak <= 4 * buf.len() + 16 * 1024,
        "decode allocated {peak} bytes for a {}-byte frame",
        buf.len()
    );
    let _ = wire::peek_sender(buf);
    match frame_len(buf) {
        Ok(Some(n)) => assert!((HEADER_LEN..=MAX_MSG_LEN).contains(&n)),
        Ok(None) => assert!(buf.len() < 8),
        Err(_) => assert!(res.is_err(), "decode accepted what frame_len refuses"),
    }
    match res {
        Ok(msg) => {
            assert_eq!(frame_len(buf), Ok(Some(buf.len())));
            let again = encode(&msg);
            assert_eq!(
                decode(&again).as_ref(),
                Ok(&msg),
                "round trip changed the message"
            );
            Verdict::Accepted
        }
        Err(_) => Verdict::Rejected,
    }
}

#[test]
fn fuzz_bus_decode() {
    let s = Settings::from_env(SHORT);
    let st = run("bus-decode", bus_seeds(), &s, fix_envelope, check_decode);
    assert!(st.accepted > 0);
}

/// Feeds every mutant to one live node (state accumulates across inputs, ticks advance the
/// clock), as a hostile peer on the bus would; the node is rebuilt now and then.
#[test]
fn fuzz_bus_into_node() {
    let s = Settings::from_env(SHORT / 2);
    let conf = nodes_conf();
    let fresh = || {
        Node::from_nodes_conf(
            NodeConfig::new("127.0.0.1", 30001),
            1,
            &conf,
            1_700_000_000_000,
        )
        .expect("seed nodes.conf parses")
    };
    let mut node = fresh();
    let mut now = 1_700_000_000_000u64;
    let mut n = 0u64;
    let st = run("bus-node", bus_seeds(), &s, fix_envelope, |buf| {
        n += 1;
        now += 37;
        if n.is_multiple_of(500) {
            node = fresh();
        }
        let v = match node.step(now, "127.0.0.1", buf) {
            Ok(_) => Verdict::Accepted,
            Err(_) => Verdict::Rejected,
        };
        if n.is_multiple_of(16) {
            now += 5_000;
            let _ = node.tick(now);
        }
        if n.is_multiple_of(64) {
            let text = node.nodes_conf();
            parse_nodes_conf(&text, now).unwrap_or_else(|e| {
                panic!("the node wrote a nodes.conf it cannot read ({e}):\n{text}")
            });
        }
        v
    });
    assert!(st.accepted > 0);
}

fn conf_seeds() -> Vec<Vec<u8>> {
    let a = hex_id('a');
    vec![
        nodes_conf().into_bytes(),
        format!("{a} 127.0.0.1:7000@17000 myself,master - 0 0 0 connected\n").into_bytes(),
        format!(
            "{a} 10.0.0.1:7000@17000,host myself,slave {} 0 5 4 connected\nvars currentEpoch 9\n",
            hex_id('f')
        )
        .into_bytes(),
        format!(
            "{a} :0@0 myself,master,fail?,noaddr - 0 0 0 disconnected 1 2 3 16383 [7->-{}]\n",
            hex_id('b')
        )
        .into_bytes(),
    ]
}

fn check_conf(buf: &[u8]) -> Verdict {
    let Ok(text) = std::str::from_utf8(buf) else {
        return Verdict::Rejected;
    };
    match parse_nodes_conf(text, 5) {
        Ok(st) => {
            let once = render_nodes_conf(&st);
            let back = parse_nodes_conf(&once, 5)
                .unwrap_or_else(|e| panic!("rendered nodes.conf does not parse ({e}):\n{once}"));
            assert_eq!(
                render_nodes_conf(&back),
                once,
                "nodes.conf render is not stable"
            );
            // A node started from it must survive its first ticks (one input in 16: a
            // node start is much slower than a parse).
            if !buf.len().is_multiple_of(16) {
                return Verdict::Accepted;
            }
            if let Ok(mut node) =
                Node::from_nodes_conf(NodeConfig::new("127.0.0.1", 7000), 1, text, 1_000)
            {
                let _ = node.tick(2_000);
                let _ = node.tick(60_000);
            }
            Verdict::Accepted
        }
        Err(_) => Verdict::Rejected,
    }
}

#[test]
fn fuzz_nodes_conf() {
    let s = Settings::from_env(SHORT / 2);
    let st = run("nodes-conf", conf_seeds(), &s, |_, _| {}, check_conf);
    assert!(st.accepted > 0);
}

/// Sends `msg` to a node started from [`nodes_conf`] and checks its nodes.conf still loads.
fn node_survives(msg: &Message) -> String {
    let mut node =
        Node::from_nodes_conf(NodeConfig::new("127.0.0.1", 30001), 1, &nodes_conf(), 1_000)
            .expect("seed nodes.conf parses");
    let _ = node.step(2_000, "127.0.0.1", &encode(msg));
    let _ = node.tick(3_000);
    let text = node.nodes_conf();
    parse_nodes_conf(&text, 4_000)
        .unwrap_or_else(|e| panic!("nodes.conf no longer loads ({e}):\n{text}"));
    text
}

/// Found by fuzz_bus_into_node: a MEET from a sender whose name is not 40 hex characters
/// was added to the node table and written to nodes.conf, which then refused to load.
#[test]
fn regression_meet_from_invalid_name_is_ignored() {
    let mut rng = Rng::new(1);
    let mut name = hex_id('e').into_bytes();
    name[1] = 0xe1;
    let sender = NodeId::from_bytes(&name).expect("40 bytes");
    let msg = Message {
        header: header(&mut rng, sender),
        body: Body::Meet(PingBody::default()),
    };
    let text = node_survives(&msg);
    assert!(!text.contains("e\u{fffd}"), "{text}");
}

/// An announced IP, gossiped IP or hostname with spaces or a newline must not reach
/// nodes.conf (it would split or add lines).
#[test]
fn regression_announced_addresses_cannot_inject_into_nodes_conf() {
    let mut rng = Rng::new(2);
    let mut h = header(&mut rng, id('e'));
    h.myip = b"1.2.3.4 x\nvars currentEpoch 99".to_vec();
    let text = node_survives(&Message {
        header: h,
        body: Body::Meet(PingBody {
            gossip: vec![Gossip {
                node: id('f'),
                ip: b"10.0.0.1 bad".to_vec(),
                ..gossip(&mut rng)
            }],
            hostname: Some(b"host name,x".to_vec()),
            other_exts: vec![],
        }),
    });
    assert!(
        !text.contains("currentEpoch 99") && !text.contains("bad") && !text.contains("host name"),
        "{text}"
    );
    let mut h = header(&mut rng, id('b'));
    h.myip = b"1.2.3.4\n".to_vec();
    node_survives(&Message {
        header: h,
        body: Body::Ping(PingBody {
            hostname: Some(b"a\nb".to_vec()),
            ..PingBody::default()
        }),
    });
}

/// Found by the long fuzz_bus_decode run: an announced IP filling all 46 bytes of the field
/// (no NUL) decoded to 46 characters, which encode() can only send as 45.
#[test]
fn regression_unterminated_ip_field_round_trips() {
    let mut rng = Rng::new(3);
    let mut bytes = encode(&Message {
        header: header(&mut rng, id('b')),
        body: Body::Ping(PingBody {
            gossip: vec![gossip(&mut rng)],
            ..PingBody::default()
        }),
    });
    bytes[2168..2168 + 46].fill(b'a');
    bytes[HEADER_LEN + 48..HEADER_LEN + 48 + 46].fill(b'1');
    let msg = decode(&bytes).expect("valid frame");
    assert_eq!(msg.header.myip.len(), 45);
    assert_eq!(decode(&encode(&msg)).as_ref(), Ok(&msg));
}
