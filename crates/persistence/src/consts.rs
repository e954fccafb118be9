//! Numbers fixed by the RDB format (type bytes, opcodes, length and string encodings).

/// RDB version written by redis-server 7.0, and by us.
pub const RDB_VERSION: u16 = 10;
/// Newest RDB version whose files we try to read (7.4 writes 12; unknown types still fail).
pub const RDB_MAX_READ_VERSION: u32 = 12;
/// Newest version accepted in a DUMP payload footer.
pub const DUMP_MAX_VERSION: u16 = 11;

pub const TYPE_STRING: u8 = 0;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_MODULE_PRE_GA: u8 = 6;
pub const TYPE_MODULE_2: u8 = 7;
pub const TYPE_HASH_ZIPMAP: u8 = 9;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;
pub const TYPE_SET_LISTPACK: u8 = 20;
pub const TYPE_STREAM_LISTPACKS_3: u8 = 21;

pub const OP_FUNCTION2: u8 = 245;
pub const OP_FUNCTION_PRE_GA: u8 = 246;
pub const OP_MODULE_AUX: u8 = 247;
pub const OP_IDLE: u8 = 248;
pub const OP_FREQ: u8 = 249;
pub const OP_AUX: u8 = 250;
pub const OP_RESIZEDB: u8 = 251;
pub const OP_EXPIRETIME_MS: u8 = 252;
pub const OP_EXPIRETIME: u8 = 253;
pub const OP_SELECTDB: u8 = 254;
pub const OP_EOF: u8 = 255;

/// Length prefix kinds (top two bits of the first byte).
pub const LEN_32BIT: u8 = 0x80;
pub const LEN_64BIT: u8 = 0x81;

/// Special string encodings (low six bits when the top bits are 11).
pub const ENC_INT8: u8 = 0;
pub const ENC_INT16: u8 = 1;
pub const ENC_INT32: u8 = 2;
pub const ENC_LZF: u8 = 3;

/// Quicklist 2 node containers.
pub const QUICKLIST_NODE_PLAIN: u64 = 1;
pub const QUICKLIST_NODE_PACKED: u64 = 2;

/// Thresholds of redis-server 7.0's shipped redis.conf (the built-in hash default is 512),
/// used to pick compact encodings; a loader with other limits converts as needed.
pub const MAX_LISTPACK_ENTRIES: usize = 128;
pub const MAX_LISTPACK_VALUE: usize = 64;
pub const MAX_INTSET_ENTRIES: usize = 512;
/// list-max-listpack-size -2: 8 KiB per quicklist node.
pub const QUICKLIST_NODE_BYTES: usize = 8192;
