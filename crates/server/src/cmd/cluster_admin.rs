//! The CLUSTER subcommands that go through the cluster node (rubra-cluster's admin.rs,
//! node_lines.rs and views.rs): each parses its arguments Redis's way, calls the core, executes
//! the returned outputs via driver::apply, and shapes the reply as Redis 7.0 does.

use super::args::{int, is};
use super::{err, CmdResult, Ctx};
use crate::cluster::driver::{self, ClusterDriver};
use crate::cluster::routing::Preferred;
use bytes::Bytes;
use rubra_cluster::node_lines::render_cluster_nodes;
use rubra_cluster::views::{cluster_shards, cluster_slots, Endpoint};
use rubra_cluster::{ClusterError, FailoverMode, Node, Output};
use rubra_resp::{Reply, VerbatimFormat};

fn cluster_driver<'a>(ctx: &'a mut Ctx) -> Result<&'a mut ClusterDriver, Reply> {
    ctx.store
        .cluster
        .as_deref_mut()
        .ok_or_else(|| Reply::err("ERR This instance has cluster support disabled"))
}

fn to_reply(e: ClusterError) -> Reply {
    Reply::error(e.0)
}

/// Keys this node holds (a primary must be empty for REPLICATE, RESET, FLUSHSLOTS).
fn db_keys(ctx: &Ctx) -> u64 {
    ctx.store.dbs.iter().map(|d| d.len() as u64).sum()
}

/// Runs an admin call on the node, executes its outputs, and answers +OK.
fn admin(
    ctx: &mut Ctx,
    f: impl FnOnce(&mut Node) -> Result<Vec<Output>, ClusterError>,
) -> CmdResult {
    let outs = f(&mut cluster_driver(ctx)?.node).map_err(to_reply)?;
    driver::apply(ctx.store, outs);
    Ok(Reply::OK)
}

/// getSlotOrReply: any non-integer or out-of-range slot is the same error.
fn slot(arg: &[u8]) -> i64 {
    int(arg).unwrap_or(-1)
}

fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

/// Dispatches the node-backed subcommands (`sub` is lower case, arity already checked).
pub(crate) fn run(ctx: &mut Ctx, sub: &str, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    match sub {
        "info" => {
            let g = cluster_driver(ctx)?;
            let (sent, received) = g.node.message_stats();
            let freed = g.links.buffer_limit_exceeded;
            let body = g.node.cluster_info().render(sent, received, freed);
            Ok(Reply::Verbatim(VerbatimFormat::Txt, body.into()))
        }
        "nodes" => {
            let body = render_cluster_nodes(cluster_driver(ctx)?.node.state());
            Ok(Reply::Verbatim(VerbatimFormat::Txt, body.into()))
        }
        "myid" => Ok(Reply::bulk_string(
            cluster_driver(ctx)?.node.id().as_string(),
        )),
        "myshardid" => {
            // Redis 7.2's shard id; ours is stable per shard: its primary's node id.
            let st = cluster_driver(ctx)?.node.state();
            let shard = st.my_shard_primary().unwrap_or(st.myself);
            Ok(Reply::bulk_string(shard.as_string()))
        }
        "slots" => {
            let offset = crate::repl::my_offset(ctx.store);
            Ok(slots_reply(cluster_driver(ctx)?, offset))
        }
        "shards" => {
            let offset = crate::repl::my_offset(ctx.store);
            Ok(shards_reply(cluster_driver(ctx)?, offset))
        }
        "links" => Ok(links_reply(cluster_driver(ctx)?)),
        "meet" => {
            let ip = text(&args[2]);
            let port = int(&args[3])
                .ok()
                .filter(|p| (0..=65535).contains(p))
                .ok_or_else(|| {
                    Reply::error(format!(
                        "ERR Invalid base port specified: {}",
                        text(&args[3])
                    ))
                })?;
            let cport = match args.get(4) {
                None => None,
                Some(a) => Some(int(a).ok().filter(|p| (0..=65535).contains(p)).ok_or_else(
                    || Reply::error(format!("ERR Invalid bus port specified: {}", text(a))),
                )? as u16),
            };
            if args.len() > 5 {
                return Err(err::SYNTAX);
            }
            admin(ctx, |n| n.meet(now, &ip, port as u16, cport))
        }
        "forget" => admin(ctx, |n| n.forget(now, &args[2])),
        "reset" => {
            let hard = match args.get(2) {
                None => false,
                Some(a) if is(a, "hard") => true,
                Some(a) if is(a, "soft") => false,
                Some(_) => return Err(err::SYNTAX),
            };
            if args.len() > 3 {
                return Err(err::SYNTAX);
            }
            let keys = db_keys(ctx);
            let was_replica = !cluster_driver(ctx)?.node.is_primary();
            let reply = admin(ctx, |n| n.reset(hard, keys))?;
            if was_replica {
                // A reset replica becomes an empty primary, as in Redis (emptyData).
                for db in ctx.store.dbs.iter_mut() {
                    *db = rubra_keyspace::Db::new();
                }
                ctx.store.dirty += 1;
            }
            Ok(reply)
        }
        "addslots" | "delslots" => {
            let slots: Vec<i64> = args[2..].iter().map(|a| slot(a)).collect();
            if sub == "addslots" {
                admin(ctx, |n| n.add_slots(&slots))
            } else {
                admin(ctx, |n| n.del_slots(&slots))
            }
        }
        "addslotsrange" | "delslotsrange" => {
            if !(args.len() - 2).is_multiple_of(2) {
                return Err(err::wrong_args(&format!("cluster|{sub}")));
            }
            let ranges: Vec<(i64, i64)> = args[2..]
                .chunks(2)
                .map(|c| (slot(&c[0]), slot(&c[1])))
                .collect();
            if sub == "addslotsrange" {
                admin(ctx, |n| n.add_slots_range(&ranges))
            } else {
                admin(ctx, |n| n.del_slots_range(&ranges))
            }
        }
        "flushslots" => {
            let keys = db_keys(ctx);
            admin(ctx, |n| n.flush_slots(keys))
        }
        "setslot" => setslot(ctx, args),
        "replicate" => {
            let keys = db_keys(ctx);
            admin(ctx, |n| n.replicate(&args[2], keys))
        }
        "replicas" | "slaves" => {
            let lines = cluster_driver(ctx)?
                .node
                .replicas(&args[2])
                .map_err(to_reply)?;
            Ok(Reply::Array(
                lines
                    .into_iter()
                    .map(|l| Reply::bulk_string(format!("{l}\n")))
                    .collect(),
            ))
        }
        "count-failure-reports" => {
            let n = cluster_driver(ctx)?
                .node
                .count_failure_reports(&args[2])
                .map_err(to_reply)?;
            Ok(Reply::Int(n as i64))
        }
        "saveconfig" => match cluster_driver(ctx)?.save_config(true) {
            Ok(()) => Ok(Reply::OK),
            Err(e) => Err(Reply::error(format!(
                "ERR error saving the cluster node config: {e}"
            ))),
        },
        "bumpepoch" => {
            let (result, outs) = cluster_driver(ctx)?.node.bump_epoch();
            driver::apply(ctx.store, outs);
            Ok(Reply::status_bytes(result.to_string().into_bytes()))
        }
        "set-config-epoch" => {
            let epoch = int(&args[2]).map_err(|_| {
                Reply::error(format!(
                    "ERR Invalid config epoch specified: {}",
                    text(&args[2])
                ))
            })?;
            admin(ctx, |n| n.set_config_epoch(epoch))
        }
        "failover" => {
            let mode = match args.get(2) {
                None => FailoverMode::Default,
                Some(a) if is(a, "force") => FailoverMode::Force,
                Some(a) if is(a, "takeover") => FailoverMode::Takeover,
                Some(_) => return Err(err::SYNTAX),
            };
            if args.len() > 3 {
                return Err(err::SYNTAX);
            }
            admin(ctx, |n| n.failover(now, mode))
        }
        _ => Err(err::unknown_subcommand("cluster", sub.as_bytes())),
    }
}

/// CLUSTER SETSLOT slot IMPORTING node | MIGRATING node | NODE node | STABLE
fn setslot(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let bad = || {
        Reply::err("ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP")
    };
    let s = slot(&args[2]);
    let action = &args[3];
    if is(action, "stable") {
        if args.len() != 4 {
            return Err(bad());
        }
        return admin(ctx, |n| n.setslot_stable(s));
    }
    if args.len() != 5 {
        return Err(bad());
    }
    let node = &args[4];
    if is(action, "migrating") {
        admin(ctx, |n| n.setslot_migrating(s, node))
    } else if is(action, "importing") {
        admin(ctx, |n| n.setslot_importing(s, node))
    } else if is(action, "node") {
        let keys = if (0..rubra_keys::SLOT_COUNT as i64).contains(&s) {
            ctx.store.dbs[0].count_in_slot(s as usize) as u64
        } else {
            0
        };
        admin(ctx, |n| n.setslot_node(s, node, keys))
    } else {
        Err(bad())
    }
}

fn endpoint_reply(e: &Endpoint, preferred: Preferred) -> Reply {
    // Redis's addNodeToNodeReply: the preferred endpoint first (null for
    // unknown-endpoint), then whatever else is known in the map: ip unless it is the
    // preferred one, hostname (if any) unless it is.
    let first = match preferred {
        Preferred::Unknown => Reply::Nil,
        p => Reply::bulk(p.endpoint(&e.ip, &e.hostname).as_bytes()),
    };
    let mut meta = Vec::new();
    if preferred != Preferred::Ip {
        meta.push((Reply::bulk(b"ip"), Reply::bulk(e.ip.as_bytes())));
    }
    if preferred != Preferred::Hostname && !e.hostname.is_empty() {
        meta.push((Reply::bulk(b"hostname"), Reply::bulk(e.hostname.as_bytes())));
    }
    Reply::Array(vec![
        first,
        Reply::Int(e.port as i64),
        Reply::bulk_string(e.id.as_string()),
        Reply::Map(meta),
    ])
}

/// CLUSTER SLOTS: [start, end, primary, replicas...] per contiguous range.
fn slots_reply(g: &ClusterDriver, my_offset: u64) -> Reply {
    Reply::Array(
        cluster_slots(g.node.state(), my_offset)
            .iter()
            .map(|r| {
                let mut item = vec![
                    Reply::Int(r.start as i64),
                    Reply::Int(r.end as i64),
                    endpoint_reply(&r.primary, g.preferred_endpoint),
                ];
                item.extend(
                    r.replicas
                        .iter()
                        .map(|e| endpoint_reply(e, g.preferred_endpoint)),
                );
                Reply::Array(item)
            })
            .collect(),
    )
}

/// CLUSTER SHARDS: a map per shard with its slot ranges and nodes.
fn shards_reply(g: &ClusterDriver, my_offset: u64) -> Reply {
    let field = |k: &str| Reply::bulk(k.as_bytes());
    Reply::Array(
        cluster_shards(g.node.state(), my_offset)
            .iter()
            .map(|sh| {
                let slots = sh
                    .slots
                    .iter()
                    .flat_map(|(a, b)| [Reply::Int(*a as i64), Reply::Int(*b as i64)])
                    .collect();
                let nodes = sh
                    .nodes
                    .iter()
                    .map(|n| {
                        let mut m = vec![
                            (field("id"), Reply::bulk_string(n.id.as_string())),
                            (field("port"), Reply::Int(n.port as i64)),
                            (field("ip"), Reply::bulk(n.ip.as_bytes())),
                            (
                                field("endpoint"),
                                Reply::bulk(
                                    g.preferred_endpoint.endpoint(&n.ip, &n.hostname).as_bytes(),
                                ),
                            ),
                        ];
                        if !n.hostname.is_empty() {
                            m.push((field("hostname"), Reply::bulk(n.hostname.as_bytes())));
                        }
                        m.push((field("role"), Reply::bulk(n.role.as_bytes())));
                        m.push((
                            field("replication-offset"),
                            Reply::Int(n.replication_offset as i64),
                        ));
                        m.push((field("health"), Reply::bulk(n.health.as_bytes())));
                        Reply::Map(m)
                    })
                    .collect();
                Reply::Map(vec![
                    (field("slots"), Reply::Array(slots)),
                    (field("nodes"), Reply::Array(nodes)),
                ])
            })
            .collect(),
    )
}

/// CLUSTER LINKS: our outgoing bus links (incoming ones are not tracked per node).
fn links_reply(g: &ClusterDriver) -> Reply {
    let field = |k: &str| Reply::bulk(k.as_bytes());
    Reply::Array(
        g.links
            .list()
            .iter()
            .map(|l| {
                Reply::Map(vec![
                    (field("direction"), Reply::bulk(b"to")),
                    (field("node"), Reply::bulk_string(l.node.as_string())),
                    (field("create-time"), Reply::Int(l.created_ms as i64)),
                    (field("events"), Reply::bulk(b"rw")),
                    (field("send-buffer-allocated"), Reply::Int(0)),
                    (field("send-buffer-used"), Reply::Int(0)),
                ])
            })
            .collect(),
    )
}
