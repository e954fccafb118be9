//! The command forms that carry a stream's state to replicas and the AOF, as Redis writes
//! them: a pending entry as `XCLAIM ... FORCE JUSTID` (streamPropagateXCLAIM), a group's
//! cursor as `XGROUP SETID ... ENTRIESREAD` (streamPropagateGroupID), and a whole stream
//! with its groups for an AOF rewrite or a slot migration. The stream commands and the
//! persistence layer both use them, so they live with replication, not with the commands.

use bytes::Bytes;
use rubra_keyspace::stream::ConsumerGroup;
use rubra_keyspace::{Stream, StreamId};

fn bulk(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn id_arg(id: StreamId) -> Bytes {
    Bytes::from(id.to_string())
}

/// The propagated form of one pending entry: owner, delivery time and count exactly.
pub(crate) fn xclaim_prop(
    key: &Bytes,
    group: &Bytes,
    g: &ConsumerGroup,
    id: StreamId,
    consumer: &Bytes,
    time: u64,
    count: u64,
) -> Vec<Bytes> {
    vec![
        bulk("XCLAIM"),
        key.clone(),
        group.clone(),
        consumer.clone(),
        bulk("0"),
        id_arg(id),
        bulk("TIME"),
        Bytes::from(time.to_string()),
        bulk("RETRYCOUNT"),
        Bytes::from(count.to_string()),
        bulk("FORCE"),
        bulk("JUSTID"),
        bulk("LASTID"),
        id_arg(g.last_id),
    ]
}

/// The propagated form of a group's cursor.
pub(crate) fn setid_prop(key: &Bytes, group: &Bytes, g: &ConsumerGroup) -> Vec<Bytes> {
    vec![
        bulk("XGROUP"),
        bulk("SETID"),
        key.clone(),
        group.clone(),
        id_arg(g.last_id),
        bulk("ENTRIESREAD"),
        Bytes::from(g.entries_read.to_string()),
    ]
}

/// Commands that recreate a stream with its groups: XADDs, XSETID with the counters, then
/// each group (XGROUP CREATE with ENTRIESREAD), its PEL as XCLAIM ... FORCE JUSTID, and
/// consumers that own nothing as XGROUP CREATECONSUMER.
pub(crate) fn rebuild_stream(key: &Bytes, s: &Stream) -> Vec<Vec<Bytes>> {
    let mut out = Vec::new();
    if s.is_empty() {
        out.push(vec![
            bulk("XADD"),
            key.clone(),
            bulk("MAXLEN"),
            bulk("0"),
            bulk("0-1"),
            bulk("x"),
            bulk("y"),
        ]);
    }
    for (id, fields) in s.iter() {
        let mut c = vec![bulk("XADD"), key.clone(), id_arg(*id)];
        for (f, v) in fields {
            c.push(f.clone());
            c.push(v.clone());
        }
        out.push(c);
    }
    out.push(vec![
        bulk("XSETID"),
        key.clone(),
        id_arg(s.last_id),
        bulk("ENTRIESADDED"),
        Bytes::from(s.entries_added.to_string()),
        bulk("MAXDELETEDID"),
        id_arg(s.max_deleted_entry_id),
    ]);
    for (name, g) in &s.groups {
        out.push(vec![
            bulk("XGROUP"),
            bulk("CREATE"),
            key.clone(),
            name.clone(),
            id_arg(g.last_id),
            bulk("ENTRIESREAD"),
            Bytes::from(g.entries_read.to_string()),
        ]);
        for (id, p) in &g.pel {
            out.push(xclaim_prop(
                key,
                name,
                g,
                *id,
                &p.consumer,
                p.delivery_time,
                p.delivery_count,
            ));
        }
        for (cname, c) in &g.consumers {
            if c.pel.is_empty() {
                out.push(vec![
                    bulk("XGROUP"),
                    bulk("CREATECONSUMER"),
                    key.clone(),
                    name.clone(),
                    cname.clone(),
                ]);
            }
        }
    }
    out
}
