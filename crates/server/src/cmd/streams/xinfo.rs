//! XINFO STREAM|GROUPS|CONSUMERS.

use super::groups::*;
use super::{bulk, entries_reply, entry_reply, id_reply, S};
use crate::cmd::args::{self, is};
use crate::cmd::{err, CmdResult, Ctx};
use bytes::Bytes;
use rubra_keyspace::stream::{ConsumerGroup, ENTRIES_READ_UNKNOWN};
use rubra_keyspace::{Stream, StreamId};
use rubra_resp::Reply;

// XINFO

pub(super) const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];

pub(super) fn s(text: &'static str) -> Reply {
    Reply::Bulk(bulk(text))
}

pub(super) fn opt_int(v: Option<i64>) -> Reply {
    v.map_or(Reply::Nil, Reply::Int)
}

/// XINFO STREAM key [FULL [COUNT n]] | GROUPS key | CONSUMERS key group | HELP
pub(super) fn xinfo(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = checked_subcommand("xinfo", args, |sub, argc| match sub {
        b"stream" => Some(argc >= 3),
        b"groups" => Some(argc == 3),
        b"consumers" => Some(argc == 4),
        b"help" => Some(argc == 2),
        _ => None,
    })?;
    if sub == b"help" {
        return Ok(help(XINFO_HELP));
    }
    let now = ctx.now_ms;
    let Some(st) = ctx.read_as::<S>(&args[2])? else {
        return Err(err::NO_SUCH_KEY);
    };
    match sub.as_slice() {
        b"consumers" => {
            let Some(g) = st.groups.get(&args[3]) else {
                return Err(nogroup_for_key(&args[3], &args[2]));
            };
            Ok(Reply::Array(
                g.consumers
                    .iter()
                    .map(|(name, c)| {
                        Reply::Map(vec![
                            (s("name"), Reply::Bulk(name.clone())),
                            (s("pending"), Reply::Int(c.pel.len() as i64)),
                            (
                                s("idle"),
                                Reply::Int(now.saturating_sub(c.seen_time) as i64),
                            ),
                        ])
                    })
                    .collect(),
            ))
        }
        b"groups" => Ok(Reply::Array(
            st.groups
                .iter()
                .map(|(name, g)| {
                    Reply::Map(vec![
                        (s("name"), Reply::Bulk(name.clone())),
                        (s("consumers"), Reply::Int(g.consumers.len() as i64)),
                        (s("pending"), Reply::Int(g.pel.len() as i64)),
                        (s("last-delivered-id"), id_reply(g.last_id)),
                        (s("entries-read"), opt_int(entries_read(g))),
                        (s("lag"), opt_int(st.group_lag(g))),
                    ])
                })
                .collect(),
        )),
        _ => stream_info(st, &args[1], &args[3..]),
    }
}

pub(super) fn entries_read(g: &ConsumerGroup) -> Option<i64> {
    (g.entries_read != ENTRIES_READ_UNKNOWN).then_some(g.entries_read)
}

pub(super) fn stream_info(st: &Stream, sub: &[u8], opts: &[Bytes]) -> CmdResult {
    let mut count: usize = 10;
    let full = !opts.is_empty();
    if full {
        if (opts.len() != 1 && opts.len() != 3) || !is(&opts[0], "full") {
            return Err(sub_syntax(sub, "XINFO"));
        }
        if opts.len() == 3 {
            if !is(&opts[1], "count") {
                return Err(sub_syntax(sub, "XINFO"));
            }
            let n = args::int(&opts[2])?;
            count = if n < 0 { 10 } else { n as usize };
        }
    }
    let mut m = vec![
        (s("length"), Reply::Int(st.len() as i64)),
        (s("radix-tree-keys"), Reply::Int(st.node_count() as i64)),
        (
            s("radix-tree-nodes"),
            Reply::Int(st.rax_node_count() as i64),
        ),
        (s("last-generated-id"), id_reply(st.last_id)),
        (s("max-deleted-entry-id"), id_reply(st.max_deleted_entry_id)),
        (s("entries-added"), Reply::Int(st.entries_added as i64)),
        (s("recorded-first-entry-id"), id_reply(st.first_id())),
    ];
    if !full {
        m.push((s("groups"), Reply::Int(st.groups.len() as i64)));
        let first = st
            .iter()
            .next()
            .map_or(Reply::Nil, |(id, f)| entry_reply(*id, f));
        let last = st
            .iter()
            .next_back()
            .map_or(Reply::Nil, |(id, f)| entry_reply(*id, f));
        m.push((s("first-entry"), first));
        m.push((s("last-entry"), last));
        return Ok(Reply::Map(m));
    }
    let limit = if count == 0 { usize::MAX } else { count };
    m.push((
        s("entries"),
        entries_reply(&st.range(StreamId::ZERO, StreamId::MAX, count, false)),
    ));
    let groups = st
        .groups
        .iter()
        .map(|(name, g)| {
            let pel = g
                .pel
                .iter()
                .take(limit)
                .map(|(id, p)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::Bulk(p.consumer.clone()),
                        Reply::Int(p.delivery_time as i64),
                        Reply::Int(p.delivery_count as i64),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let own = c
                        .pel
                        .iter()
                        .take(limit)
                        .filter_map(|id| {
                            let p = g.pel.get(id)?;
                            Some(Reply::Array(vec![
                                id_reply(*id),
                                Reply::Int(p.delivery_time as i64),
                                Reply::Int(p.delivery_count as i64),
                            ]))
                        })
                        .collect();
                    Reply::Map(vec![
                        (s("name"), Reply::Bulk(cname.clone())),
                        (s("seen-time"), Reply::Int(c.seen_time as i64)),
                        (s("pel-count"), Reply::Int(c.pel.len() as i64)),
                        (s("pending"), Reply::Array(own)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                (s("name"), Reply::Bulk(name.clone())),
                (s("last-delivered-id"), id_reply(g.last_id)),
                (s("entries-read"), opt_int(entries_read(g))),
                (s("lag"), opt_int(st.group_lag(g))),
                (s("pel-count"), Reply::Int(g.pel.len() as i64)),
                (s("pending"), Reply::Array(pel)),
                (s("consumers"), Reply::Array(consumers)),
            ])
        })
        .collect();
    m.push((s("groups"), Reply::Array(groups)));
    Ok(Reply::Map(m))
}

/// The lowercase subcommand of XGROUP/XINFO, checked in Redis's order: an unknown name
/// first, then "wrong number of arguments for 'cmd|sub'". `arity_ok` says whether the
/// argument count fits the subcommand, or None for a name it does not know.
pub(super) fn checked_subcommand(
    cmd: &str,
    args: &[Bytes],
    arity_ok: fn(&[u8], usize) -> Option<bool>,
) -> Result<Vec<u8>, Reply> {
    let sub = args[1].to_ascii_lowercase();
    match arity_ok(&sub, args.len()) {
        None => Err(err::unknown_subcommand(cmd, &args[1])),
        Some(false) => Err(err::wrong_args(&format!(
            "{cmd}|{}",
            String::from_utf8_lossy(&sub)
        ))),
        Some(true) => Ok(sub),
    }
}
