//! RESP, the Redis wire protocol: request parsing (multibulk and inline), a general frame
//! parser for the client side (replication, tools, tests), and reply encoding for RESP2 and
//! RESP3. Pure functions over byte slices, so it is fuzzable and has no runtime dependency.

mod client;
mod double;
mod encode;
mod frame;
mod request;

pub use client::{encode_request, FrameReader};
pub use double::format_double;
pub use encode::{bulk_array, scored_array, Reply, VerbatimFormat};
pub use frame::{parse_frame, Frame};
pub use request::{
    parse_request, parse_request_prefix, parse_request_reusing, parse_request_shared, split_args,
    Limits, Parsed, ProtocolError, Request, BIG_ARG, UNAUTH_MAX_ARGS, UNAUTH_MAX_BULK,
};
