//! The GEO searches (GEORADIUS[_RO], GEORADIUSBYMEMBER[_RO], GEOSEARCH, GEOSEARCHSTORE):
//! one parser and one search, as Redis's `georadiusGeneric`, so options, error order,
//! candidate order (the nine geohash boxes, each in score order), sorting and replies are
//! the same for every variant.

use super::hash::{self, Search, Shape};
use super::{coord_reply, distance_reply, parse_lonlat, unit, Z};
use crate::cmd::args::{self, is};
use crate::cmd::pqsort::pqsort;
use crate::cmd::{err, CmdResult, Ctx};
use bytes::Bytes;
use rubra_keyspace::Value;
use rubra_keyspace::ZSet;
use rubra_resp::Reply;
use std::cmp::Ordering;

/// Which command is parsing (Redis's RADIUS_* / GEOSEARCH flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// GEORADIUS: centre from longitude latitude; `store` allows STORE/STOREDIST.
    Coords { store: bool },
    /// GEORADIUSBYMEMBER: centre from a member.
    Member { store: bool },
    /// GEOSEARCH, or GEOSEARCHSTORE when `store`.
    Search { store: bool },
}

/// GEORADIUS key longitude latitude radius unit [options]
pub(super) fn georadius(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, 1, Variant::Coords { store: true })
}

/// GEORADIUS_RO key longitude latitude radius unit [options]
pub(super) fn georadius_ro(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, 1, Variant::Coords { store: false })
}

/// GEORADIUSBYMEMBER key member radius unit [options]
pub(super) fn georadiusbymember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, 1, Variant::Member { store: true })
}

/// GEORADIUSBYMEMBER_RO key member radius unit [options]
pub(super) fn georadiusbymember_ro(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, 1, Variant::Member { store: false })
}

/// GEOSEARCH key FROMMEMBER m|FROMLONLAT lon lat BYRADIUS r unit|BYBOX w h unit [options]
pub(super) fn geosearch(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, 1, Variant::Search { store: false })
}

/// GEOSEARCHSTORE dest src FROMMEMBER ...|FROMLONLAT ... BYRADIUS ...|BYBOX ... [STOREDIST]
pub(super) fn geosearchstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, 2, Variant::Search { store: true })
}

/// Key positions of GEORADIUS[BYMEMBER]: the source and the last STORE/STOREDIST key,
/// looking from argument 5 on, as Redis's `georadiusGetKeys`.
pub(super) fn georadius_keys(args: &[Bytes]) -> Vec<usize> {
    let mut stored = None;
    let mut i = 5;
    while i < args.len() {
        if (is(&args[i], "store") || is(&args[i], "storedist")) && i + 1 < args.len() {
            stored = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    std::iter::once(1).chain(stored).collect()
}

/// Requested ordering.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// One match.
struct Point {
    member: Bytes,
    score: f64,
    lon: f64,
    lat: f64,
    dist: f64,
}

/// Parsed options.
struct Opts {
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    any: bool,
    sort: Sort,
    count: i64,
    store: Option<Bytes>,
    store_dist: bool,
}

/// The source zset, borrowed without touching access statistics (the command counted its
/// one lookup already).
fn source<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Option<&'c ZSet> {
    let now = ctx.now_ms;
    match &ctx.db().get(key, now)?.value {
        Value::ZSet(z) => Some(z),
        _ => None,
    }
}

/// The position of `member` in the source zset, for FROMMEMBER / BYMEMBER.
fn member_position(ctx: &mut Ctx, key: &[u8], member: &[u8]) -> Result<(f64, f64), Reply> {
    source(ctx, key)
        .and_then(|z| z.score(member))
        .map(hash::score_to_lonlat)
        .ok_or(Reply::err("ERR could not decode requested zset member"))
}

/// A radius and unit ("need numeric radius", "radius cannot be negative").
fn parse_radius(r: &[u8], u: &[u8]) -> Result<(f64, f64), Reply> {
    let radius = args::parse_f64(r).ok_or(Reply::err("ERR need numeric radius"))?;
    if radius < 0.0 {
        return Err(Reply::err("ERR radius cannot be negative"));
    }
    Ok((radius, unit(u)?))
}

/// A box's width, height and unit.
fn parse_box(w: &[u8], h: &[u8], u: &[u8]) -> Result<(f64, f64, f64), Reply> {
    let width = args::parse_f64(w).ok_or(Reply::err("ERR need numeric width"))?;
    let height = args::parse_f64(h).ok_or(Reply::err("ERR need numeric height"))?;
    if height < 0.0 || width < 0.0 {
        return Err(Reply::err("ERR height or width cannot be negative"));
    }
    Ok((width, height, unit(u)?))
}

/// Redis's `georadiusGeneric`: parse in Redis's order (errors included), search the nine
/// boxes, sort, reply or store.
fn generic(ctx: &mut Ctx, args: &[Bytes], src: usize, variant: Variant) -> CmdResult {
    // The source zset, if any (WRONGTYPE first, as Redis checks the type before parsing).
    let exists = ctx.read_as::<Z>(&args[src])?.is_some();
    let key = &args[src];
    let mut center: Option<(f64, f64)> = None;
    let mut shape: Option<(Shape, f64)> = None;
    let base;
    let mut store: Option<Bytes> = None;
    match variant {
        Variant::Coords { .. } => {
            base = 6;
            center = Some(parse_lonlat(&args[2], &args[3])?);
            let (r, conv) = parse_radius(&args[4], &args[5])?;
            shape = Some((Shape::Radius(r), conv));
        }
        Variant::Member { .. } => {
            base = 5;
            if exists {
                center = Some(member_position(ctx, key, &args[2])?);
                let (r, conv) = parse_radius(&args[3], &args[4])?;
                shape = Some((Shape::Radius(r), conv));
            }
        }
        Variant::Search { store: s } => {
            base = if s { 3 } else { 2 };
            if s {
                store = Some(args[1].clone());
            }
        }
    }
    let allow_store = matches!(
        variant,
        Variant::Coords { store: true } | Variant::Member { store: true }
    );
    let search = matches!(variant, Variant::Search { .. });
    let search_store = matches!(variant, Variant::Search { store: true });
    let mut o = Opts {
        with_dist: false,
        with_hash: false,
        with_coord: false,
        any: false,
        sort: Sort::None,
        count: 0,
        store,
        store_dist: false,
    };
    let (mut from_member, mut from_loc, mut by_radius, mut by_box) = (false, false, false, false);
    let rest = &args[base.min(args.len())..];
    let mut i = 0;
    while i < rest.len() {
        let a = &rest[i];
        let left = rest.len() - i - 1;
        if is(a, "withdist") {
            o.with_dist = true;
        } else if is(a, "withhash") {
            o.with_hash = true;
        } else if is(a, "withcoord") {
            o.with_coord = true;
        } else if is(a, "any") {
            o.any = true;
        } else if is(a, "asc") {
            o.sort = Sort::Asc;
        } else if is(a, "desc") {
            o.sort = Sort::Desc;
        } else if is(a, "count") && left >= 1 {
            o.count = args::int(&rest[i + 1])?;
            if o.count <= 0 {
                return Err(Reply::err("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && left >= 1 && allow_store {
            o.store = Some(rest[i + 1].clone());
            o.store_dist = is(a, "storedist");
            i += 1;
        } else if is(a, "storedist") && search_store {
            o.store_dist = true;
        } else if is(a, "frommember") && left >= 1 && search && !from_loc {
            if exists {
                center = Some(member_position(ctx, key, &rest[i + 1])?);
            }
            from_member = true;
            i += 1;
        } else if is(a, "fromlonlat") && left >= 2 && search && !from_member {
            center = Some(parse_lonlat(&rest[i + 1], &rest[i + 2])?);
            from_loc = true;
            i += 2;
        } else if is(a, "byradius") && left >= 2 && search && !by_box {
            let (r, conv) = parse_radius(&rest[i + 1], &rest[i + 2])?;
            shape = Some((Shape::Radius(r), conv));
            by_radius = true;
            i += 2;
        } else if is(a, "bybox") && left >= 3 && search && !by_radius {
            let (w, h, conv) = parse_box(&rest[i + 1], &rest[i + 2], &rest[i + 3])?;
            shape = Some((
                Shape::Box {
                    width: w,
                    height: h,
                },
                conv,
            ));
            by_box = true;
            i += 3;
        } else {
            return Err(err::SYNTAX);
        }
        i += 1;
    }
    if o.store.is_some() && (o.with_dist || o.with_hash || o.with_coord) {
        return Err(Reply::error(format!(
            "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if search_store {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    let name = String::from_utf8_lossy(&args[0]);
    if search && !(from_member || from_loc) {
        return Err(Reply::error(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if search && !(by_radius || by_box) {
        return Err(Reply::error(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if o.any && o.count == 0 {
        return Err(Reply::err("ERR the ANY argument requires COUNT argument"));
    }
    let (true, Some((lon, lat)), Some((shape, conversion))) = (exists, center, shape) else {
        // No source key: delete the destination (if storing) and answer empty.
        return match o.store {
            Some(dest) => {
                ctx.touched_only(&dest);
                if ctx.db().remove(&dest).is_some() {
                    ctx.dirty(1);
                }
                Ok(Reply::Int(0))
            }
            None => Ok(Reply::Array(Vec::new())),
        };
    };
    if o.count != 0 && o.sort == Sort::None && !o.any {
        o.sort = Sort::Asc;
    }
    let s = Search {
        lon,
        lat,
        shape,
        conversion,
    };
    let limit = if o.any { o.count as usize } else { 0 };
    let mut points = source(ctx, key).map_or_else(Vec::new, |z| collect(z, &s, limit));
    if points.is_empty() && o.store.is_none() {
        return Ok(Reply::Array(Vec::new()));
    }
    let returned = if o.count == 0 || (points.len() as i64) < o.count {
        points.len()
    } else {
        o.count as usize
    };
    let asc = |a: &Point, b: &Point| a.dist.partial_cmp(&b.dist).unwrap_or(Ordering::Equal);
    match o.sort {
        Sort::None => {}
        // A full sort is glibc's qsort (a stable merge sort); a partial one is pqsort.
        Sort::Asc if returned == points.len() => points.sort_by(asc),
        Sort::Desc if returned == points.len() => points.sort_by(|a, b| asc(b, a)),
        Sort::Asc => pqsort(&mut points, 0, returned - 1, &asc),
        Sort::Desc => pqsort(&mut points, 0, returned - 1, &|a: &Point, b: &Point| {
            asc(b, a)
        }),
    }
    points.truncate(returned);
    for p in &mut points {
        p.dist /= conversion;
    }
    match o.store {
        None => Ok(Reply::Array(
            points.iter().map(|p| point_reply(ctx, &o, p)).collect(),
        )),
        Some(dest) => {
            let mut out = ZSet::new();
            for p in points {
                let score = if o.store_dist { p.dist } else { p.score };
                out.insert(p.member, score);
            }
            crate::cmd::zsets::store_result(ctx, &dest, out)
        }
    }
}

/// One result: the member alone, or [member, dist?, hash?, [lon, lat]?].
fn point_reply(ctx: &Ctx, o: &Opts, p: &Point) -> Reply {
    let member = Reply::Bulk(p.member.clone());
    if !(o.with_dist || o.with_hash || o.with_coord) {
        return member;
    }
    let mut parts = vec![member];
    if o.with_dist {
        parts.push(distance_reply(p.dist));
    }
    if o.with_hash {
        parts.push(Reply::Int(p.score as i64));
    }
    if o.with_coord {
        parts.push(Reply::Array(vec![
            coord_reply(ctx, p.lon),
            coord_reply(ctx, p.lat),
        ]));
    }
    Reply::Array(parts)
}

/// The candidates in Redis's order: each of the nine boxes (skipping excluded ones and a
/// box equal to the previously scanned one), members in score order within a box; with a
/// `limit` (ANY), stops as soon as that many matched.
fn collect(z: &ZSet, s: &Search, limit: usize) -> Vec<Point> {
    let boxes = hash::boxes(s);
    let mut out = Vec::new();
    let mut last: usize = 0;
    for (i, b) in boxes.iter().enumerate() {
        if b.is_zero() {
            continue;
        }
        if last != 0 && b.bits == boxes[last].bits && b.step == boxes[last].step {
            continue;
        }
        if !out.is_empty() && limit != 0 && out.len() >= limit {
            break;
        }
        let min = b.align52() as f64;
        let max = hash::Hash {
            bits: b.bits + 1,
            step: b.step,
        }
        .align52() as f64;
        let start = z.score_rank(min, false);
        for (member, score) in z.iter_from(start) {
            if score >= max {
                break;
            }
            let (lon, lat) = hash::score_to_lonlat(score);
            if let Some(dist) = hash::within(s, lon, lat) {
                out.push(Point {
                    member: Bytes::copy_from_slice(member),
                    score,
                    lon,
                    lat,
                    dist,
                });
            }
            if !out.is_empty() && limit != 0 && out.len() >= limit {
                break;
            }
        }
        last = i;
    }
    out
}
