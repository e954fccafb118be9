//! Cluster bus messages, in Redis 7.0's binary `clusterMsg` layout.
//!
//! BACKGROUND: every node speaks to every other node over the bus (port + 10000). To let
//! Rubra nodes and real Redis nodes read each other's packets, we use Redis's exact layout:
//! a fixed 2256-byte header followed by a type-specific body. All integers are big endian
//! (Redis uses htons/htonl/htonu64). Offsets are pinned by `layout_*` tests below; they are
//! the same numbers as the `static_assert(offsetof(clusterMsg, ...))` block of Redis's
//! `cluster.h`.
//!
//! Header (offset: field):
//! ```text
//!    0 sig "RCmb"        4 totlen u32       8 ver u16 (=1)    10 port u16
//!   12 type u16         14 count u16       16 currentEpoch u64
//!   24 configEpoch u64  32 offset u64      40 sender [40]    80 myslots [2048]
//! 2128 slaveof [40]   2168 myip [46]     2214 extensions u16 2216 unused [30]
//! 2246 pport u16      2248 cport u16     2250 flags u16     2252 state u8
//! 2253 mflags [3]     2256 body
//! ```
//! Bodies: PING/PONG/MEET = `count` gossip entries of 104 bytes, then (if mflags[0] has
//! EXT_DATA) `extensions` ping extensions, each `length u32, type u16, unused u16, payload`
//! padded to 8 bytes (type 0 = hostname, NUL terminated). FAIL = node name [40].
//! PUBLISH/PUBLISHSHARD = channel_len u32, message_len u32, channel, message.
//! UPDATE = configEpoch u64, node name [40], slots [2048]. MODULE = module_id u64, len u32,
//! type u8, payload. FAILOVER_AUTH_REQUEST/ACK and MFSTART have no body.
//!
//! BEHAVIOR: [`decode`] never panics, whatever the bytes; it checks the exact expected
//! length per type the way Redis's `clusterIsValidPacket` does, so a truncated or padded
//! packet is rejected rather than half-read.

use std::fmt;

/// Signature at the start of every bus message ("Redis Cluster message bus").
pub const SIGNATURE: &[u8; 4] = b"RCmb";
/// Bus protocol version Redis 7.0 sends and accepts.
pub const PROTO_VER: u16 = 1;
/// Size of the fixed header; also the smallest valid message (CLUSTERMSG_MIN_LEN).
pub const HEADER_LEN: usize = 2256;
/// Size of one gossip entry (clusterMsgDataGossip).
pub const GOSSIP_LEN: usize = 104;
/// Node names are 40 hex characters (SHA1 size).
pub const NAMELEN: usize = 40;
/// Size of the IP fields (INET6_ADDRSTRLEN), NUL padded.
pub const IPLEN: usize = 46;
/// Slot bitmap size: 16384 bits.
pub const SLOT_BYTES: usize = 2048;
/// Largest message we agree to frame; guards the server's buffer against a bogus totlen.
pub const MAX_MSG_LEN: usize = 600 * 1024 * 1024;

/// mflags[0]: the primary is paused for a manual failover (its offset is final).
pub const MFLAG0_PAUSED: u8 = 1 << 0;
/// mflags[0]: vote for this AUTH_REQUEST even though the primary is not failed.
pub const MFLAG0_FORCEACK: u8 = 1 << 1;
/// mflags[0]: ping extensions follow the gossip sections.
pub const MFLAG0_EXT_DATA: u8 = 1 << 2;

/// Ping extension type carrying the announced hostname.
pub const EXT_HOSTNAME: u16 = 0;

const OFF_TOTLEN: usize = 4;
const OFF_VER: usize = 8;
const OFF_PORT: usize = 10;
const OFF_TYPE: usize = 12;
const OFF_COUNT: usize = 14;
const OFF_CURRENT_EPOCH: usize = 16;
const OFF_CONFIG_EPOCH: usize = 24;
const OFF_OFFSET: usize = 32;
const OFF_SENDER: usize = 40;
const OFF_MYSLOTS: usize = 80;
const OFF_SLAVEOF: usize = 2128;
const OFF_MYIP: usize = 2168;
const OFF_EXTENSIONS: usize = 2214;
const OFF_PPORT: usize = 2246;
const OFF_CPORT: usize = 2248;
const OFF_FLAGS: usize = 2250;
const OFF_STATE: usize = 2252;
const OFF_MFLAGS: usize = 2253;

/// Bus message types, numbered as Redis numbers them (CLUSTERMSG_TYPE_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum MsgType {
    Ping = 0,
    Pong = 1,
    Meet = 2,
    Fail = 3,
    Publish = 4,
    FailoverAuthRequest = 5,
    FailoverAuthAck = 6,
    Update = 7,
    MfStart = 8,
    Module = 9,
    PublishShard = 10,
}

impl MsgType {
    /// Maps the wire number back; `None` for types we do not know (Redis ignores those).
    pub fn from_u16(v: u16) -> Option<MsgType> {
        use MsgType::*;
        Some(match v {
            0 => Ping,
            1 => Pong,
            2 => Meet,
            3 => Fail,
            4 => Publish,
            5 => FailoverAuthRequest,
            6 => FailoverAuthAck,
            7 => Update,
            8 => MfStart,
            9 => Module,
            10 => PublishShard,
            _ => return None,
        })
    }
}

/// A 40-character node name. Kept as raw bytes: names arrive from the network and are only
/// compared and printed, so we do not insist they are hex (see [`NodeId::is_valid`]).
#[derive(Clone, Copy, PartialOrd, Ord)]
pub struct NodeId(pub [u8; NAMELEN]);

/// Names are compared once per slot in every scan of the 16384-slot table (coverage,
/// owners, CLUSTER NODES, routing): five inlined 8-byte word compares instead of a memcmp
/// call each time, which was ~40% of a node's CPU during `redis-cli --cluster reshard`.
impl PartialEq for NodeId {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        #[inline]
        fn word(id: &[u8; NAMELEN], i: usize) -> u64 {
            let mut w = [0u8; 8];
            w.copy_from_slice(&id[i * 8..i * 8 + 8]);
            u64::from_ne_bytes(w)
        }
        (0..NAMELEN / 8).all(|i| word(&self.0, i) == word(&other.0, i))
    }
}

impl Eq for NodeId {}

/// Hashes the bytes, consistent with the byte-wise equality above.
impl std::hash::Hash for NodeId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl NodeId {
    /// The all-zero name Redis uses for "no node" in `slaveof`.
    pub const NULL: NodeId = NodeId([0; NAMELEN]);

    /// Builds a name from exactly 40 bytes.
    pub fn from_bytes(b: &[u8]) -> Option<NodeId> {
        let arr: [u8; NAMELEN] = b.try_into().ok()?;
        Some(NodeId(arr))
    }

    /// True for 40 lowercase-or-uppercase hex chars, what `verifyClusterNodeId` accepts.
    pub fn is_valid(&self) -> bool {
        self.0.iter().all(|c| c.is_ascii_hexdigit())
    }

    /// The name as text (lossy for non-ASCII names received from the wire).
    pub fn as_string(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.as_string())
    }
}

/// 16384-bit slot set, in Redis's bit order (slot j is bit j%8 of byte j/8).
#[derive(Clone, PartialEq, Eq)]
pub struct SlotBitmap(pub Box<[u8; SLOT_BYTES]>);

impl Default for SlotBitmap {
    fn default() -> Self {
        SlotBitmap(Box::new([0; SLOT_BYTES]))
    }
}

impl fmt::Debug for SlotBitmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SlotBitmap({} slots)", self.count())
    }
}

impl SlotBitmap {
    /// Is `slot` in the set? Out-of-range slots are never set.
    pub fn get(&self, slot: usize) -> bool {
        slot < SLOT_BYTES * 8 && self.0[slot >> 3] & (1 << (slot & 7)) != 0
    }
    /// Adds `slot` (ignored if out of range).
    pub fn set(&mut self, slot: usize) {
        if slot < SLOT_BYTES * 8 {
            self.0[slot >> 3] |= 1 << (slot & 7);
        }
    }
    /// Removes `slot` (ignored if out of range).
    pub fn clear(&mut self, slot: usize) {
        if slot < SLOT_BYTES * 8 {
            self.0[slot >> 3] &= !(1 << (slot & 7));
        }
    }
    /// Number of slots in the set.
    pub fn count(&self) -> usize {
        self.0.iter().map(|b| b.count_ones() as usize).sum()
    }
    /// The set as inclusive ranges, ascending. Whole bytes of 0x00 (outside a range) or
    /// 0xFF (inside one) are stepped over at once, so a few big ranges cost ~2048 steps.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        let mut out = Vec::new();
        let mut start: Option<usize> = None;
        for (i, &byte) in self.0.iter().enumerate() {
            if (start.is_some() && byte == 0xFF) || (start.is_none() && byte == 0) {
                continue;
            }
            for bit in 0..8 {
                let slot = i * 8 + bit;
                match (start, byte & (1 << bit) != 0) {
                    (None, true) => start = Some(slot),
                    (Some(a), false) => {
                        out.push((a as u16, (slot - 1) as u16));
                        start = None;
                    }
                    _ => {}
                }
            }
        }
        if let Some(a) = start {
            out.push((a as u16, (SLOT_BYTES * 8 - 1) as u16));
        }
        out
    }
    /// The slots in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..SLOT_BYTES * 8).filter(move |&s| self.get(s))
    }
}

/// The fixed header every message carries: who sent it and how it sees itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Sender's client port.
    pub port: u16,
    /// Sender's currentEpoch.
    pub current_epoch: u64,
    /// Sender's configEpoch, or its primary's if the sender is a replica.
    pub config_epoch: u64,
    /// Replication offset (primary: master offset; replica: processed offset).
    pub offset: u64,
    /// Sender's node name.
    pub sender: NodeId,
    /// Slots of the sender (or of its primary, if a replica).
    pub myslots: SlotBitmap,
    /// The sender's primary, when the sender is a replica.
    pub replica_of: Option<NodeId>,
    /// Announced IP; empty means "use the address the packet came from".
    pub myip: Vec<u8>,
    /// Plaintext port when the base port is TLS (0 otherwise).
    pub pport: u16,
    /// Sender's cluster bus port.
    pub cport: u16,
    /// Sender's node flags (CLUSTER_NODE_*).
    pub flags: u16,
    /// Cluster state as the sender sees it: 0 ok, 1 fail.
    pub state: u8,
    /// Message flags (MFLAG0_*).
    pub mflags: [u8; 3],
}

impl Default for Header {
    fn default() -> Self {
        Header {
            port: 0,
            current_epoch: 0,
            config_epoch: 0,
            offset: 0,
            sender: NodeId::NULL,
            myslots: SlotBitmap::default(),
            replica_of: None,
            myip: Vec::new(),
            pport: 0,
            cport: 0,
            flags: 0,
            state: 0,
            mflags: [0; 3],
        }
    }
}

/// One gossip section: what the sender knows about some third node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gossip {
    pub node: NodeId,
    /// Seconds (Redis sends `ping_sent / 1000`).
    pub ping_sent: u32,
    /// Seconds (Redis sends `pong_received / 1000`).
    pub pong_received: u32,
    pub ip: Vec<u8>,
    pub port: u16,
    pub cport: u16,
    pub flags: u16,
    pub pport: u16,
}

/// Ping/pong/meet payload: gossip plus extensions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PingBody {
    pub gossip: Vec<Gossip>,
    /// Hostname extension (type 0), without the NUL.
    pub hostname: Option<Vec<u8>>,
    /// Extensions we do not interpret, kept so they round-trip: (type, padded payload).
    pub other_exts: Vec<(u16, Vec<u8>)>,
}

/// The type-specific part of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Ping(PingBody),
    Pong(PingBody),
    Meet(PingBody),
    Fail {
        node: NodeId,
    },
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    PublishShard {
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    FailoverAuthRequest,
    FailoverAuthAck,
    Update {
        config_epoch: u64,
        node: NodeId,
        slots: SlotBitmap,
    },
    MfStart,
    Module {
        module_id: u64,
        ty: u8,
        payload: Vec<u8>,
    },
}

impl Body {
    /// The wire type of this body.
    pub fn msg_type(&self) -> MsgType {
        match self {
            Body::Ping(_) => MsgType::Ping,
            Body::Pong(_) => MsgType::Pong,
            Body::Meet(_) => MsgType::Meet,
            Body::Fail { .. } => MsgType::Fail,
            Body::Publish { .. } => MsgType::Publish,
            Body::PublishShard { .. } => MsgType::PublishShard,
            Body::FailoverAuthRequest => MsgType::FailoverAuthRequest,
            Body::FailoverAuthAck => MsgType::FailoverAuthAck,
            Body::Update { .. } => MsgType::Update,
            Body::MfStart => MsgType::MfStart,
            Body::Module { .. } => MsgType::Module,
        }
    }
}

/// A whole bus message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub body: Body,
}

/// Why bytes were not a valid message. The server closes the link on any of these except
/// `UnknownType`, which Redis silently ignores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    BadSignature,
    BadVersion(u16),
    /// totlen disagrees with the bytes or with the type's expected size.
    BadLength {
        expected: usize,
        got: usize,
    },
    UnknownType(u16),
    BadExtension,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::BadSignature => f.write_str("bad bus signature"),
            WireError::BadVersion(v) => write!(f, "unsupported bus protocol version {v}"),
            WireError::BadLength { expected, got } => {
                write!(f, "bad bus message length: expected {expected}, got {got}")
            }
            WireError::UnknownType(t) => write!(f, "unknown bus message type {t}"),
            WireError::BadExtension => f.write_str("malformed ping extension"),
        }
    }
}

impl std::error::Error for WireError {}

/// Framing for the server's read loop: given the bytes buffered so far, returns the length
/// of the first complete message once 8 bytes are available (`Ok(None)` = need more), or
/// an error if the stream cannot be a bus stream (then close the link, as Redis does).
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, WireError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    if &buf[0..4] != SIGNATURE {
        return Err(WireError::BadSignature);
    }
    let totlen = be_u32(buf, OFF_TOTLEN) as usize;
    if !(HEADER_LEN..=MAX_MSG_LEN).contains(&totlen) {
        return Err(WireError::BadLength {
            expected: HEADER_LEN,
            got: totlen,
        });
    }
    Ok(Some(totlen))
}

fn be_u16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}
fn be_u32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
fn be_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_be_bytes(a)
}
/// The sender's node name in a frame's header, without decoding the rest: the transport
/// uses it to name the peer of an incoming link (CLUSTER LINKS "from" entries).
pub fn peek_sender(frame: &[u8]) -> Option<NodeId> {
    (frame.len() >= OFF_SENDER + NAMELEN).then(|| name_at(frame, OFF_SENDER))
}

/// A frame's message type number from its header, without decoding the rest: DEBUG
/// DROP-CLUSTER-PACKET-FILTER drops frames by it before they reach the node, as Redis's
/// clusterProcessPacket does after its length and version checks.
pub fn peek_type(frame: &[u8]) -> Option<u16> {
    (frame.len() >= OFF_TYPE + 2).then(|| be_u16(frame, OFF_TYPE))
}

fn name_at(b: &[u8], off: usize) -> NodeId {
    let mut a = [0u8; NAMELEN];
    a.copy_from_slice(&b[off..off + NAMELEN]);
    NodeId(a)
}
/// A NUL-terminated string field.
fn cstr(b: &[u8]) -> Vec<u8> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    b[..end].to_vec()
}
fn put_cstr(out: &mut [u8], s: &[u8]) {
    // Leave room for the NUL so the receiver's C string stays terminated.
    let n = s.len().min(out.len() - 1);
    out[..n].copy_from_slice(&s[..n]);
}
fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// Encodes a message into its wire bytes (totlen, count, extensions filled in here).
pub fn encode(msg: &Message) -> Vec<u8> {
    let h = &msg.header;
    let mut out = vec![0u8; HEADER_LEN];
    out[0..4].copy_from_slice(SIGNATURE);
    out[OFF_VER..OFF_VER + 2].copy_from_slice(&PROTO_VER.to_be_bytes());
    out[OFF_PORT..OFF_PORT + 2].copy_from_slice(&h.port.to_be_bytes());
    out[OFF_TYPE..OFF_TYPE + 2].copy_from_slice(&(msg.body.msg_type() as u16).to_be_bytes());
    out[OFF_CURRENT_EPOCH..OFF_CURRENT_EPOCH + 8].copy_from_slice(&h.current_epoch.to_be_bytes());
    out[OFF_CONFIG_EPOCH..OFF_CONFIG_EPOCH + 8].copy_from_slice(&h.config_epoch.to_be_bytes());
    out[OFF_OFFSET..OFF_OFFSET + 8].copy_from_slice(&h.offset.to_be_bytes());
    out[OFF_SENDER..OFF_SENDER + NAMELEN].copy_from_slice(&h.sender.0);
    out[OFF_MYSLOTS..OFF_MYSLOTS + SLOT_BYTES].copy_from_slice(&h.myslots.0[..]);
    if let Some(p) = &h.replica_of {
        out[OFF_SLAVEOF..OFF_SLAVEOF + NAMELEN].copy_from_slice(&p.0);
    }
    put_cstr(&mut out[OFF_MYIP..OFF_MYIP + IPLEN], &h.myip);
    out[OFF_PPORT..OFF_PPORT + 2].copy_from_slice(&h.pport.to_be_bytes());
    out[OFF_CPORT..OFF_CPORT + 2].copy_from_slice(&h.cport.to_be_bytes());
    out[OFF_FLAGS..OFF_FLAGS + 2].copy_from_slice(&h.flags.to_be_bytes());
    out[OFF_STATE] = h.state;
    let mut mflags = h.mflags;
    mflags[0] &= !MFLAG0_EXT_DATA;
    let mut count: u16 = 0;
    let mut extensions: u16 = 0;
    match &msg.body {
        Body::Ping(p) | Body::Pong(p) | Body::Meet(p) => {
            count = p.gossip.len().min(u16::MAX as usize) as u16;
            for g in p.gossip.iter().take(count as usize) {
                let mut e = [0u8; GOSSIP_LEN];
                e[0..40].copy_from_slice(&g.node.0);
                e[40..44].copy_from_slice(&g.ping_sent.to_be_bytes());
                e[44..48].copy_from_slice(&g.pong_received.to_be_bytes());
                put_cstr(&mut e[48..48 + IPLEN], &g.ip);
                e[94..96].copy_from_slice(&g.port.to_be_bytes());
                e[96..98].copy_from_slice(&g.cport.to_be_bytes());
                e[98..100].copy_from_slice(&g.flags.to_be_bytes());
                e[100..102].copy_from_slice(&g.pport.to_be_bytes());
                out.extend_from_slice(&e);
            }
            let mut exts: Vec<(u16, Vec<u8>)> = Vec::new();
            if let Some(hn) = &p.hostname {
                let mut payload = hn.clone();
                payload.push(0);
                payload.resize(align8(payload.len()), 0);
                exts.push((EXT_HOSTNAME, payload));
            }
            for (t, data) in &p.other_exts {
                let mut payload = data.clone();
                payload.resize(align8(payload.len()), 0);
                exts.push((*t, payload));
            }
            for (t, payload) in &exts {
                out.extend_from_slice(&((8 + payload.len()) as u32).to_be_bytes());
                out.extend_from_slice(&t.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(payload);
            }
            if !exts.is_empty() {
                extensions = exts.len() as u16;
                mflags[0] |= MFLAG0_EXT_DATA;
            }
        }
        Body::Fail { node } => out.extend_from_slice(&node.0),
        Body::Publish { channel, message } | Body::PublishShard { channel, message } => {
            out.extend_from_slice(&(channel.len() as u32).to_be_bytes());
            out.extend_from_slice(&(message.len() as u32).to_be_bytes());
            out.extend_from_slice(channel);
            out.extend_from_slice(message);
        }
        Body::Update {
            config_epoch,
            node,
            slots,
        } => {
            out.extend_from_slice(&config_epoch.to_be_bytes());
            out.extend_from_slice(&node.0);
            out.extend_from_slice(&slots.0[..]);
        }
        Body::Module {
            module_id,
            ty,
            payload,
        } => {
            out.extend_from_slice(&module_id.to_be_bytes());
            out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            out.push(*ty);
            out.extend_from_slice(payload);
        }
        Body::FailoverAuthRequest | Body::FailoverAuthAck | Body::MfStart => {}
    }
    out[OFF_COUNT..OFF_COUNT + 2].copy_from_slice(&count.to_be_bytes());
    out[OFF_EXTENSIONS..OFF_EXTENSIONS + 2].copy_from_slice(&extensions.to_be_bytes());
    out[OFF_MFLAGS..OFF_MFLAGS + 3].copy_from_slice(&mflags);
    let totlen = out.len() as u32;
    out[OFF_TOTLEN..OFF_TOTLEN + 4].copy_from_slice(&totlen.to_be_bytes());
    out
}

fn expect_len(expected: usize, got: usize) -> Result<(), WireError> {
    if expected == got {
        Ok(())
    } else {
        Err(WireError::BadLength { expected, got })
    }
}

/// Decodes exactly one message occupying all of `buf`. Never panics.
pub fn decode(buf: &[u8]) -> Result<Message, WireError> {
    if buf.len() < 8 {
        return Err(WireError::BadLength {
            expected: HEADER_LEN,
            got: buf.len(),
        });
    }
    if &buf[0..4] != SIGNATURE {
        return Err(WireError::BadSignature);
    }
    let totlen = be_u32(buf, OFF_TOTLEN) as usize;
    if totlen != buf.len() || totlen < HEADER_LEN {
        return Err(WireError::BadLength {
            expected: totlen.max(HEADER_LEN),
            got: buf.len(),
        });
    }
    let ver = be_u16(buf, OFF_VER);
    if ver != PROTO_VER {
        return Err(WireError::BadVersion(ver));
    }
    let ty_raw = be_u16(buf, OFF_TYPE);
    let ty = MsgType::from_u16(ty_raw).ok_or(WireError::UnknownType(ty_raw))?;
    let count = be_u16(buf, OFF_COUNT) as usize;
    let slaveof = name_at(buf, OFF_SLAVEOF);
    let mut myslots = SlotBitmap::default();
    myslots
        .0
        .copy_from_slice(&buf[OFF_MYSLOTS..OFF_MYSLOTS + SLOT_BYTES]);
    let mut mflags = [0u8; 3];
    mflags.copy_from_slice(&buf[OFF_MFLAGS..OFF_MFLAGS + 3]);
    let header = Header {
        port: be_u16(buf, OFF_PORT),
        current_epoch: be_u64(buf, OFF_CURRENT_EPOCH),
        config_epoch: be_u64(buf, OFF_CONFIG_EPOCH),
        offset: be_u64(buf, OFF_OFFSET),
        sender: name_at(buf, OFF_SENDER),
        myslots,
        replica_of: (slaveof != NodeId::NULL).then_some(slaveof),
        // The last byte is the terminator (Redis sets it to NUL on receipt); a sender that
        // fills all 46 bytes must not give us a 46-byte IP that encode() cannot send back.
        myip: cstr(&buf[OFF_MYIP..OFF_MYIP + IPLEN - 1]),
        pport: be_u16(buf, OFF_PPORT),
        cport: be_u16(buf, OFF_CPORT),
        flags: be_u16(buf, OFF_FLAGS),
        state: buf[OFF_STATE],
        mflags,
    };
    let data = &buf[HEADER_LEN..];
    let body = match ty {
        MsgType::Ping | MsgType::Pong | MsgType::Meet => {
            let p = decode_ping(&header, buf, count, data)?;
            match ty {
                MsgType::Ping => Body::Ping(p),
                MsgType::Pong => Body::Pong(p),
                _ => Body::Meet(p),
            }
        }
        MsgType::Fail => {
            expect_len(NAMELEN, data.len())?;
            Body::Fail {
                node: name_at(data, 0),
            }
        }
        MsgType::Publish | MsgType::PublishShard => {
            if data.len() < 8 {
                return Err(WireError::BadLength {
                    expected: HEADER_LEN + 8,
                    got: buf.len(),
                });
            }
            let clen = be_u32(data, 0) as usize;
            let mlen = be_u32(data, 4) as usize;
            expect_len(8usize.saturating_add(clen).saturating_add(mlen), data.len())?;
            let channel = data[8..8 + clen].to_vec();
            let message = data[8 + clen..].to_vec();
            if ty == MsgType::Publish {
                Body::Publish { channel, message }
            } else {
                Body::PublishShard { channel, message }
            }
        }
        MsgType::FailoverAuthRequest | MsgType::FailoverAuthAck | MsgType::MfStart => {
            expect_len(0, data.len())?;
            match ty {
                MsgType::FailoverAuthRequest => Body::FailoverAuthRequest,
                MsgType::FailoverAuthAck => Body::FailoverAuthAck,
                _ => Body::MfStart,
            }
        }
        MsgType::Update => {
            expect_len(8 + NAMELEN + SLOT_BYTES, data.len())?;
            let mut slots = SlotBitmap::default();
            slots.0.copy_from_slice(&data[48..48 + SLOT_BYTES]);
            Body::Update {
                config_epoch: be_u64(data, 0),
                node: name_at(data, 8),
                slots,
            }
        }
        MsgType::Module => {
            if data.len() < 13 {
                return Err(WireError::BadLength {
                    expected: HEADER_LEN + 13,
                    got: buf.len(),
                });
            }
            let len = be_u32(data, 8) as usize;
            expect_len(13usize.saturating_add(len), data.len())?;
            Body::Module {
                module_id: be_u64(data, 0),
                ty: data[12],
                payload: data[13..].to_vec(),
            }
        }
    };
    let mut header = header;
    // EXT_DATA describes the encoding, not the message: encode() sets it from the body.
    header.mflags[0] &= !MFLAG0_EXT_DATA;
    Ok(Message { header, body })
}

fn decode_ping(
    header: &Header,
    buf: &[u8],
    count: usize,
    data: &[u8],
) -> Result<PingBody, WireError> {
    let glen = count * GOSSIP_LEN;
    if data.len() < glen {
        return Err(WireError::BadLength {
            expected: HEADER_LEN + glen,
            got: buf.len(),
        });
    }
    let mut body = PingBody::default();
    for e in data[..glen].chunks_exact(GOSSIP_LEN) {
        body.gossip.push(Gossip {
            node: name_at(e, 0),
            ping_sent: be_u32(e, 40),
            pong_received: be_u32(e, 44),
            ip: cstr(&e[48..48 + IPLEN - 1]),
            port: be_u16(e, 94),
            cport: be_u16(e, 96),
            flags: be_u16(e, 98),
            pport: be_u16(e, 100),
        });
    }
    let mut rest = &data[glen..];
    if header.mflags[0] & MFLAG0_EXT_DATA != 0 {
        let n = be_u16(buf, OFF_EXTENSIONS);
        for _ in 0..n {
            if rest.len() < 8 {
                return Err(WireError::BadExtension);
            }
            let len = be_u32(rest, 0) as usize;
            let ty = be_u16(rest, 4);
            if len < 8 || len > rest.len() {
                return Err(WireError::BadExtension);
            }
            let payload = &rest[8..len];
            if ty == EXT_HOSTNAME {
                body.hostname = Some(cstr(payload));
            } else {
                body.other_exts.push((ty, payload.to_vec()));
            }
            rest = &rest[len..];
        }
    }
    if !rest.is_empty() {
        return Err(WireError::BadLength {
            expected: buf.len() - rest.len(),
            got: buf.len(),
        });
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: u8) -> NodeId {
        NodeId([c; NAMELEN])
    }

    fn header() -> Header {
        let mut myslots = SlotBitmap::default();
        myslots.set(0);
        myslots.set(16383);
        Header {
            port: 30001,
            current_epoch: 7,
            config_epoch: 5,
            offset: 0x0102030405060708,
            sender: id(b'a'),
            myslots,
            replica_of: Some(id(b'b')),
            myip: b"127.0.0.1".to_vec(),
            pport: 0,
            cport: 40001,
            flags: 4,
            state: 1,
            mflags: [MFLAG0_PAUSED, 0, 0],
        }
    }

    /// Pins every header offset against Redis 7.0's `static_assert(offsetof(clusterMsg,..))`.
    #[test]
    fn layout_header_offsets() {
        let bytes = encode(&Message {
            header: header(),
            body: Body::FailoverAuthAck,
        });
        assert_eq!(bytes.len(), HEADER_LEN);
        assert_eq!(&bytes[0..4], b"RCmb");
        assert_eq!(&bytes[4..8], &(2256u32).to_be_bytes());
        assert_eq!(&bytes[8..10], &[0, 1]); // ver
        assert_eq!(&bytes[10..12], &30001u16.to_be_bytes());
        assert_eq!(&bytes[12..14], &[0, 6]); // type AUTH_ACK
        assert_eq!(&bytes[14..16], &[0, 0]); // count
        assert_eq!(&bytes[16..24], &7u64.to_be_bytes());
        assert_eq!(&bytes[24..32], &5u64.to_be_bytes());
        assert_eq!(&bytes[32..40], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&bytes[40..80], &[b'a'; 40]);
        assert_eq!(bytes[80], 0b0000_0001); // slot 0
        assert_eq!(bytes[80 + 2047], 0b1000_0000); // slot 16383
        assert_eq!(&bytes[2128..2168], &[b'b'; 40]);
        assert_eq!(&bytes[2168..2177], b"127.0.0.1");
        assert!(bytes[2177..2214].iter().all(|&b| b == 0));
        assert_eq!(&bytes[2214..2216], &[0, 0]); // extensions
        assert_eq!(&bytes[2246..2248], &[0, 0]); // pport
        assert_eq!(&bytes[2248..2250], &40001u16.to_be_bytes());
        assert_eq!(&bytes[2250..2252], &[0, 4]);
        assert_eq!(bytes[2252], 1);
        assert_eq!(&bytes[2253..2256], &[1, 0, 0]);
    }

    /// Gossip entry is 104 bytes at offset 2256; hostname extension is 8-byte aligned.
    #[test]
    fn layout_ping_gossip_and_hostname_ext() {
        let msg = Message {
            header: header(),
            body: Body::Ping(PingBody {
                gossip: vec![Gossip {
                    node: id(b'c'),
                    ping_sent: 11,
                    pong_received: 12,
                    ip: b"10.0.0.1".to_vec(),
                    port: 7000,
                    cport: 17000,
                    flags: 8,
                    pport: 0,
                }],
                hostname: Some(b"host-a".to_vec()),
                other_exts: vec![],
            }),
        };
        let bytes = encode(&msg);
        assert_eq!(bytes.len(), HEADER_LEN + GOSSIP_LEN + 8 + 8);
        assert_eq!(&bytes[14..16], &[0, 1]); // count
        assert_eq!(&bytes[2214..2216], &[0, 1]); // extensions
        assert_eq!(bytes[2253], MFLAG0_PAUSED | MFLAG0_EXT_DATA);
        let g = &bytes[2256..2256 + 104];
        assert_eq!(&g[0..40], &[b'c'; 40]);
        assert_eq!(&g[40..44], &11u32.to_be_bytes());
        assert_eq!(&g[44..48], &12u32.to_be_bytes());
        assert_eq!(&g[48..56], b"10.0.0.1");
        assert_eq!(&g[94..96], &7000u16.to_be_bytes());
        assert_eq!(&g[96..98], &17000u16.to_be_bytes());
        assert_eq!(&g[98..100], &8u16.to_be_bytes());
        let e = &bytes[2360..];
        assert_eq!(&e[0..4], &16u32.to_be_bytes()); // 8 header + align8("host-a\0")
        assert_eq!(&e[4..6], &[0, 0]); // type hostname
        assert_eq!(&e[8..16], b"host-a\0\0");
        assert_eq!(decode(&bytes).unwrap(), msg);
    }

    #[test]
    fn layout_fixed_bodies() {
        let h = header();
        let fail = encode(&Message {
            header: h.clone(),
            body: Body::Fail { node: id(b'f') },
        });
        assert_eq!(fail.len(), 2256 + 40);
        let mut slots = SlotBitmap::default();
        slots.set(5);
        let upd = encode(&Message {
            header: h.clone(),
            body: Body::Update {
                config_epoch: 9,
                node: id(b'u'),
                slots,
            },
        });
        assert_eq!(upd.len(), 2256 + 8 + 40 + 2048);
        assert_eq!(&upd[2256..2264], &9u64.to_be_bytes());
        assert_eq!(upd[2256 + 48], 0b10_0000);
        let publ = encode(&Message {
            header: h,
            body: Body::Publish {
                channel: b"ch".to_vec(),
                message: b"hello".to_vec(),
            },
        });
        assert_eq!(publ.len(), 2256 + 8 + 2 + 5);
        assert_eq!(&publ[2256..2264], &[0, 0, 0, 2, 0, 0, 0, 5]);
        assert_eq!(&publ[2264..], b"chhello");
    }

    #[test]
    fn roundtrip_all_types() {
        let bodies = vec![
            Body::Pong(PingBody::default()),
            Body::Meet(PingBody {
                other_exts: vec![(3, vec![1, 2, 3, 4, 5, 6, 7, 8])],
                ..Default::default()
            }),
            Body::Fail { node: id(b'x') },
            Body::PublishShard {
                channel: b"c".to_vec(),
                message: vec![],
            },
            Body::FailoverAuthRequest,
            Body::MfStart,
            Body::Module {
                module_id: 3,
                ty: 2,
                payload: b"pp".to_vec(),
            },
        ];
        for body in bodies {
            let m = Message {
                header: header(),
                body,
            };
            let b = encode(&m);
            assert_eq!(frame_len(&b).unwrap(), Some(b.len()));
            assert_eq!(decode(&b).unwrap(), m);
        }
    }

    #[test]
    fn rejects_bad_lengths_and_signature() {
        let b = encode(&Message {
            header: header(),
            body: Body::Fail { node: id(b'x') },
        });
        assert!(decode(&b[..b.len() - 1]).is_err());
        let mut bad = b.clone();
        bad[0] = b'X';
        assert_eq!(decode(&bad), Err(WireError::BadSignature));
        assert_eq!(frame_len(&bad), Err(WireError::BadSignature));
        let mut short = b.clone();
        short[4..8].copy_from_slice(&100u32.to_be_bytes());
        assert!(frame_len(&short).is_err());
        let mut unk = b;
        unk[12..14].copy_from_slice(&99u16.to_be_bytes());
        assert_eq!(decode(&unk), Err(WireError::UnknownType(99)));
        assert_eq!(frame_len(&[1, 2, 3]), Ok(None));
    }

    proptest::proptest! {
        /// Arbitrary bytes never panic the decoder, with or without a valid prefix.
        #[test]
        fn decode_never_panics(mut bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..5000),
                               fix_prefix in proptest::bool::ANY, ty in 0u16..12) {
            if fix_prefix && bytes.len() >= HEADER_LEN {
                let n = bytes.len() as u32;
                bytes[0..4].copy_from_slice(b"RCmb");
                bytes[4..8].copy_from_slice(&n.to_be_bytes());
                bytes[8..10].copy_from_slice(&[0, 1]);
                bytes[12..14].copy_from_slice(&ty.to_be_bytes());
            }
            let _ = decode(&bytes);
            let _ = frame_len(&bytes);
        }
    }
}
