//! Numbers fixed by the RDB format (type bytes, opcodes, length and string encodings).

/// RDB version written by redis-server 7.0, and by us.
pub const RDB_VERSION: u16 = 10;
/// Newest RDB version whose files we try to read (7.4 writes 12; unknown types still fail).
pub(crate) const RDB_MAX_READ_VERSION: u32 = 12;
/// Newest version accepted in a DUMP payload footer: redis-server 7.0 refuses newer ones
/// ("DUMP payload version or checksum are wrong"), whatever the body holds.
pub(crate) const DUMP_MAX_VERSION: u16 = RDB_VERSION;

/// Value type byte 0: string.
pub(crate) const TYPE_STRING: u8 = 0;
/// Value type byte 1: list.
pub(crate) const TYPE_LIST: u8 = 1;
/// Value type byte 2: set.
pub(crate) const TYPE_SET: u8 = 2;
/// Value type byte 3: zset.
pub(crate) const TYPE_ZSET: u8 = 3;
/// Value type byte 4: hash.
pub(crate) const TYPE_HASH: u8 = 4;
/// Value type byte 5: zset 2.
pub(crate) const TYPE_ZSET_2: u8 = 5;
/// Value type byte 6: module pre ga.
pub(crate) const TYPE_MODULE_PRE_GA: u8 = 6;
/// Value type byte 7: module 2.
pub(crate) const TYPE_MODULE_2: u8 = 7;
/// Value type byte 9: hash zipmap.
pub(crate) const TYPE_HASH_ZIPMAP: u8 = 9;
/// Value type byte 10: list ziplist.
pub(crate) const TYPE_LIST_ZIPLIST: u8 = 10;
/// Value type byte 11: set intset.
pub(crate) const TYPE_SET_INTSET: u8 = 11;
/// Value type byte 12: zset ziplist.
pub(crate) const TYPE_ZSET_ZIPLIST: u8 = 12;
/// Value type byte 13: hash ziplist.
pub(crate) const TYPE_HASH_ZIPLIST: u8 = 13;
/// Value type byte 14: list quicklist.
pub(crate) const TYPE_LIST_QUICKLIST: u8 = 14;
/// Value type byte 15: stream listpacks.
pub(crate) const TYPE_STREAM_LISTPACKS: u8 = 15;
/// Value type byte 16: hash listpack.
pub(crate) const TYPE_HASH_LISTPACK: u8 = 16;
/// Value type byte 17: zset listpack.
pub(crate) const TYPE_ZSET_LISTPACK: u8 = 17;
/// Value type byte 18: list quicklist 2.
pub(crate) const TYPE_LIST_QUICKLIST_2: u8 = 18;
/// Value type byte 19: stream listpacks 2.
pub(crate) const TYPE_STREAM_LISTPACKS_2: u8 = 19;
/// Value type byte 20: set listpack.
pub(crate) const TYPE_SET_LISTPACK: u8 = 20;
/// Value type byte 21: stream listpacks 3.
pub(crate) const TYPE_STREAM_LISTPACKS_3: u8 = 21;

/// Opcode byte 245: function2.
pub(crate) const OP_FUNCTION2: u8 = 245;
/// Opcode byte 246: function pre ga.
pub(crate) const OP_FUNCTION_PRE_GA: u8 = 246;
/// Opcode byte 247: module aux.
pub(crate) const OP_MODULE_AUX: u8 = 247;
/// Opcode byte 248: idle.
pub(crate) const OP_IDLE: u8 = 248;
/// Opcode byte 249: freq.
pub(crate) const OP_FREQ: u8 = 249;
/// Opcode byte 250: aux.
pub(crate) const OP_AUX: u8 = 250;
/// Opcode byte 251: resizedb.
pub(crate) const OP_RESIZEDB: u8 = 251;
/// Opcode byte 252: expiretime ms.
pub(crate) const OP_EXPIRETIME_MS: u8 = 252;
/// Opcode byte 253: expiretime.
pub(crate) const OP_EXPIRETIME: u8 = 253;
/// Opcode byte 254: selectdb.
pub(crate) const OP_SELECTDB: u8 = 254;
/// Opcode byte 255: eof.
pub(crate) const OP_EOF: u8 = 255;

/// Length prefix kinds (top two bits of the first byte).
pub(crate) const LEN_32BIT: u8 = 0x80;
/// Format marker LEN_64BIT (see the group comment above).
pub(crate) const LEN_64BIT: u8 = 0x81;

/// Special string encodings (low six bits when the top bits are 11).
pub(crate) const ENC_INT8: u8 = 0;
/// Format marker ENC_INT16 (see the group comment above).
pub(crate) const ENC_INT16: u8 = 1;
/// Format marker ENC_INT32 (see the group comment above).
pub(crate) const ENC_INT32: u8 = 2;
/// Format marker ENC_LZF (see the group comment above).
pub(crate) const ENC_LZF: u8 = 3;

/// Quicklist 2 node containers.
pub(crate) const QUICKLIST_NODE_PLAIN: u64 = 1;
/// Format marker QUICKLIST_NODE_PACKED (see the group comment above).
pub(crate) const QUICKLIST_NODE_PACKED: u64 = 2;

/// Thresholds of redis-server 7.0's shipped redis.conf (the built-in hash default is 512),
/// used to pick compact encodings; a loader with other limits converts as needed.
pub(crate) const MAX_LISTPACK_ENTRIES: usize = 128;
pub(crate) const MAX_LISTPACK_VALUE: usize = 64;
pub(crate) const MAX_INTSET_ENTRIES: usize = 512;
/// list-max-listpack-size -2: 8 KiB per quicklist node.
pub(crate) const QUICKLIST_NODE_BYTES: usize = 8192;
