//! GEO commands: positions stored as sorted-set members whose score is a 52-bit geohash,
//! exactly as Redis 7.0 stores them, so GEO keys are ordinary zsets to every other command
//! (and to DUMP/RESTORE, RDB and replication). GEOADD runs as the ZADD it stands for and is
//! propagated as that ZADD, as Redis does; the searches live in `search`.

mod hash;
mod search;

use super::args::{self, is};
use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_keyspace::ZSet;
use rubra_resp::Reply;

type Z = ZSet;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("geoadd", -5, WRITE | DENYOOM, (1, 1, 1), "geo", geoadd),
    Command::new("geodist", -4, READONLY, (1, 1, 1), "geo", geodist),
    Command::new("geohash", -2, READONLY, (1, 1, 1), "geo", geohash),
    Command::new("geopos", -2, READONLY, (1, 1, 1), "geo", geopos),
    Command::new("georadius", -6, WRITE | DENYOOM, (1, 1, 1), "geo", search::georadius).with_keys(search::georadius_keys),
    Command::new("georadius_ro", -6, READONLY, (1, 1, 1), "geo", search::georadius_ro),
    Command::new("georadiusbymember", -5, WRITE | DENYOOM, (1, 1, 1), "geo", search::georadiusbymember).with_keys(search::georadius_keys),
    Command::new("georadiusbymember_ro", -5, READONLY, (1, 1, 1), "geo", search::georadiusbymember_ro),
    Command::new("geosearch", -7, READONLY, (1, 1, 1), "geo", search::geosearch),
    Command::new("geosearchstore", -8, WRITE | DENYOOM, (1, 2, 1), "geo", search::geosearchstore),
];

/// Parses a longitude, latitude pair with Redis's range check and error text.
pub(crate) fn parse_lonlat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), Reply> {
    let x = args::float(lon)?;
    let y = args::float(lat)?;
    if !(hash::LON_MIN..=hash::LON_MAX).contains(&x)
        || !(hash::LAT_MIN..=hash::LAT_MAX).contains(&y)
    {
        return Err(Reply::error(format!(
            "ERR invalid longitude,latitude pair {x:.6},{y:.6}"
        )));
    }
    Ok((x, y))
}

/// A unit name's length in meters (m, km, ft, mi), or Redis's error.
pub(crate) fn unit(arg: &[u8]) -> Result<f64, Reply> {
    if is(arg, "m") {
        Ok(1.0)
    } else if is(arg, "km") {
        Ok(1000.0)
    } else if is(arg, "ft") {
        Ok(0.3048)
    } else if is(arg, "mi") {
        Ok(1609.34)
    } else {
        Err(Reply::err(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ))
    }
}

/// A coordinate reply: a bulk string in RESP2, a RESP3 double with Redis's `%.17Lf` text.
pub(crate) fn coord_reply(ctx: &Ctx, x: f64) -> Reply {
    let text = hash::format_coord(x);
    if ctx.client.resp3 {
        Reply::Raw(Bytes::from(format!(",{text}\r\n")))
    } else {
        Reply::Bulk(Bytes::from(text))
    }
}

/// A distance reply: always a bulk string with four decimals.
pub(crate) fn distance_reply(d: f64) -> Reply {
    Reply::Bulk(Bytes::from(hash::format_distance(d)))
}

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]: runs (and propagates) as
/// `ZADD key [NX|XX] [CH] score member ...` with the geohash scores.
fn geoadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (mut nx, mut xx) = (false, false);
    let mut first = 2;
    while first < args.len() {
        let a = &args[first];
        if is(a, "nx") {
            nx = true;
        } else if is(a, "xx") {
            xx = true;
        } else if !is(a, "ch") {
            break;
        }
        first += 1;
    }
    if !(args.len() - first).is_multiple_of(3) || (nx && xx) {
        return Err(err::SYNTAX);
    }
    let mut zadd: Vec<Bytes> = Vec::with_capacity(first + (args.len() - first) / 3 * 2);
    zadd.push(Bytes::from_static(b"zadd"));
    zadd.extend_from_slice(&args[1..first]);
    for triple in args[first..].chunks_exact(3) {
        let (lon, lat) = parse_lonlat(&triple[0], &triple[1])?;
        let score = hash::lonlat_to_score(lon, lat).unwrap_or(0);
        zadd.push(Bytes::from(score.to_string()));
        zadd.push(triple[2].clone());
    }
    let reply = super::zsets::zadd(ctx, &zadd);
    ctx.propagate = Some(vec![zadd]);
    reply
}

/// GEODIST key member1 member2 [unit]
fn geodist(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let to_meter = match args.len() {
        4 => 1.0,
        5 => unit(&args[4])?,
        _ => return Err(err::SYNTAX),
    };
    let Some(z) = ctx.read_as::<Z>(&args[1])? else {
        return Ok(Reply::Nil);
    };
    let (Some(a), Some(b)) = (z.score(&args[2]), z.score(&args[3])) else {
        return Ok(Reply::Nil);
    };
    let (lon1, lat1) = hash::score_to_lonlat(a);
    let (lon2, lat2) = hash::score_to_lonlat(b);
    Ok(distance_reply(
        hash::distance(lon1, lat1, lon2, lat2) / to_meter,
    ))
}

/// GEOHASH key [member ...]: standard 11-character geohashes.
fn geohash(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let z = ctx.read_as::<Z>(&args[1])?;
    let out = args[2..]
        .iter()
        .map(|m| {
            match z
                .as_ref()
                .and_then(|z| z.score(m))
                .and_then(hash::geohash_string)
            {
                Some(h) => Reply::Bulk(Bytes::from(h)),
                None => Reply::Nil,
            }
        })
        .collect();
    Ok(Reply::Array(out))
}

/// GEOPOS key [member ...]: [longitude, latitude] pairs, nil arrays for missing members.
fn geopos(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let scores: Vec<Option<f64>> = match ctx.read_as::<Z>(&args[1])? {
        Some(z) => args[2..].iter().map(|m| z.score(m)).collect(),
        None => vec![None; args.len() - 2],
    };
    let out = scores
        .into_iter()
        .map(|s| match s {
            Some(score) => {
                let (lon, lat) = hash::score_to_lonlat(score);
                Reply::Array(vec![coord_reply(ctx, lon), coord_reply(ctx, lat)])
            }
            None => Reply::NilArray,
        })
        .collect();
    Ok(Reply::Array(out))
}
