//! Geohash arithmetic as Redis 7.0 does it (geohash.c, geohash_helper.c): 52-bit scores
//! interleaving 26 bits of latitude (even bits) and longitude (odd bits) over Redis's
//! Web-Mercator latitude limits, the 3x3 box cover of a search shape, and haversine
//! distances. Every operation keeps Redis's floating-point order so scores, positions and
//! distances agree to the last bit; no server state here.

use std::f64::consts::PI;

/// Latitude limits (EPSG:900913): geohashes cannot index the poles.
pub(crate) const LAT_MIN: f64 = -85.051_128_78;
pub(crate) const LAT_MAX: f64 = 85.051_128_78;
/// Longitude limits.
pub(crate) const LON_MIN: f64 = -180.0;
pub(crate) const LON_MAX: f64 = 180.0;
/// Bits per coordinate in a stored score (26 * 2 = 52 bits fit a double exactly).
pub(crate) const STEP_MAX: u8 = 26;
/// Earth's quadratic mean radius for WGS-84, the radius of Redis's haversine.
const EARTH_RADIUS_M: f64 = 6_372_797.560_856;
/// Half the Mercator world width, the bound of the step estimate.
const MERCATOR_MAX: f64 = 20_037_726.37;
/// Degrees to radians, as Redis's `D_R` (M_PI / 180.0).
const D_R: f64 = PI / 180.0;

/// A closed coordinate interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Range {
    pub min: f64,
    pub max: f64,
}

/// Redis's indexing ranges (longitude, latitude).
pub(crate) const LON_RANGE: Range = Range {
    min: LON_MIN,
    max: LON_MAX,
};
pub(crate) const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// A geohash of `step` bits per coordinate; `step == 0 && bits == 0` means "no box".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Hash {
    pub bits: u64,
    pub step: u8,
}

impl Hash {
    /// Whether this is the "no box" marker (a neighbour excluded from the search).
    pub(crate) fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The hash left-aligned to 52 bits, the form stored as a sorted-set score.
    pub(crate) fn align52(self) -> u64 {
        self.bits << (52 - self.step as u32 * 2)
    }
}

/// The area a hash covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Area {
    pub lon: Range,
    pub lat: Range,
}

/// Spreads the bits of `x` to even positions and those of `y` to odd ones.
fn interleave(x: u32, y: u32) -> u64 {
    fn spread(v: u32) -> u64 {
        let mut v = v as u64;
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        v = (v | (v << 1)) & 0x5555_5555_5555_5555;
        v
    }
    spread(x) | (spread(y) << 1)
}

/// The inverse of `interleave`: (even bits, odd bits).
fn deinterleave(v: u64) -> (u32, u32) {
    fn squash(mut v: u64) -> u32 {
        v &= 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v >> 16)) & 0x0000_0000_FFFF_FFFF;
        v as u32
    }
    (squash(v), squash(v >> 1))
}

/// Encodes a position with `step` bits per coordinate over the given ranges; None outside
/// Redis's indexable limits.
pub(crate) fn encode(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<Hash> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_r.min) / (lat_r.max - lat_r.min) * scale;
    let lon_offset = (lon - lon_r.min) / (lon_r.max - lon_r.min) * scale;
    Some(Hash {
        bits: interleave(lat_offset as u32, lon_offset as u32),
        step,
    })
}

/// Encodes over Redis's ranges (the stored-score encoding).
pub(crate) fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<Hash> {
    encode(LON_RANGE, LAT_RANGE, lon, lat, step)
}

/// The area a hash covers over the given ranges.
pub(crate) fn decode(lon_r: Range, lat_r: Range, hash: Hash) -> Area {
    let (ilat, ilon) = deinterleave(hash.bits);
    let div = (1u64 << hash.step) as f64;
    let lat_scale = lat_r.max - lat_r.min;
    let lon_scale = lon_r.max - lon_r.min;
    Area {
        lat: Range {
            min: lat_r.min + (ilat as f64 / div) * lat_scale,
            max: lat_r.min + (ilat.wrapping_add(1) as f64 / div) * lat_scale,
        },
        lon: Range {
            min: lon_r.min + (ilon as f64 / div) * lon_scale,
            max: lon_r.min + (ilon.wrapping_add(1) as f64 / div) * lon_scale,
        },
    }
}

/// A double converted to u64 as x86-64 C code does it (`(uint64_t)d`), so that scores
/// which are not geohashes (set by ZADD) decode to the same positions as in Redis.
fn c_double_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    fn cvtt(d: f64) -> i64 {
        if d.is_nan() || !(-TWO63..TWO63).contains(&d) {
            i64::MIN
        } else {
            d as i64
        }
    }
    if d < TWO63 {
        cvtt(d) as u64
    } else {
        (cvtt(d - TWO63) as u64) ^ (1 << 63)
    }
}

/// The position (longitude, latitude) a stored score stands for: the centre of its
/// 26-step box, clamped to the indexable limits.
pub(crate) fn score_to_lonlat(score: f64) -> (f64, f64) {
    let area = decode(
        LON_RANGE,
        LAT_RANGE,
        Hash {
            bits: c_double_to_u64(score),
            step: STEP_MAX,
        },
    );
    let lon = ((area.lon.min + area.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The score GEOADD stores for a position (None outside the limits).
pub(crate) fn lonlat_to_score(lon: f64, lat: f64) -> Option<u64> {
    encode_wgs84(lon, lat, STEP_MAX).map(Hash::align52)
}

/// The standard 11-character base32 geohash (over -90..90 latitude) of a stored score.
pub(crate) fn geohash_string(score: f64) -> Option<String> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = score_to_lonlat(score);
    let std_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    let hash = encode(LON_RANGE, std_lat, lon, lat, STEP_MAX)?;
    let mut out = String::with_capacity(11);
    for i in 0..11 {
        // 52 bits give ten full characters; the eleventh is 0, as in Redis.
        let idx = if i == 10 {
            0
        } else {
            (hash.bits >> (52 - (i + 1) * 5)) & 0x1f
        };
        out.push(ALPHABET[idx as usize] as char);
    }
    Some(out)
}

/// Moves a hash one box east (d > 0) or west (d < 0).
fn move_x(h: &mut Hash, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let shift = 64 - h.step as u32 * 2;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    h.bits = x | y;
}

/// Moves a hash one box north (d > 0) or south (d < 0).
fn move_y(h: &mut Hash, d: i8) {
    if d == 0 {
        return;
    }
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = h.bits & 0x5555_5555_5555_5555;
    let shift = 64 - h.step as u32 * 2;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> shift;
    h.bits = x | y;
}

/// A shape to search: a circle of `radius` or a `width` x `height` box, in `unit`s, where
/// `conversion` is the unit in meters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Shape {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// A search: centre, shape and unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Search {
    pub lon: f64,
    pub lat: f64,
    pub shape: Shape,
    pub conversion: f64,
}

/// The boxes to scan, in Redis's order: centre, N, S, E, W, NE, NW, SE, SW; excluded
/// neighbours are zero hashes.
pub(crate) fn boxes(s: &Search) -> [Hash; 9] {
    let (half_h, half_w) = match s.shape {
        Shape::Radius(r) => (s.conversion * r, s.conversion * r),
        Shape::Box { width, height } => {
            (s.conversion * (height / 2.0), s.conversion * (width / 2.0))
        }
    };
    let lat_delta = rad_deg(half_h / EARTH_RADIUS_M);
    let lon_delta_top = rad_deg(half_w / EARTH_RADIUS_M / deg_rad(s.lat + lat_delta).cos());
    let lon_delta_bottom = rad_deg(half_w / EARTH_RADIUS_M / deg_rad(s.lat - lat_delta).cos());
    let south = s.lat < 0.0;
    let min_lon = if south {
        s.lon - lon_delta_bottom
    } else {
        s.lon - lon_delta_top
    };
    let max_lon = if south {
        s.lon + lon_delta_bottom
    } else {
        s.lon + lon_delta_top
    };
    let min_lat = s.lat - lat_delta;
    let max_lat = s.lat + lat_delta;

    let radius_m = match s.shape {
        Shape::Radius(r) => r,
        Shape::Box { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    } * s.conversion;
    let mut steps = estimate_steps(radius_m, s.lat);
    let (mut hash, mut nb, mut area) = cover(s.lon, s.lat, steps);
    // Step down once if a neighbour does not reach the bounding box's edge.
    let north = decode(LON_RANGE, LAT_RANGE, nb[1]);
    let south_a = decode(LON_RANGE, LAT_RANGE, nb[2]);
    let east = decode(LON_RANGE, LAT_RANGE, nb[3]);
    let west = decode(LON_RANGE, LAT_RANGE, nb[4]);
    let decrease = north.lat.max < max_lat
        || south_a.lat.min > min_lat
        || east.lon.max < max_lon
        || west.lon.min > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        (hash, nb, area) = cover(s.lon, s.lat, steps);
    }
    if steps >= 2 {
        let zero = Hash::default();
        if area.lat.min < min_lat {
            nb[2] = zero; // S
            nb[8] = zero; // SW
            nb[7] = zero; // SE
        }
        if area.lat.max > max_lat {
            nb[1] = zero; // N
            nb[5] = zero; // NE
            nb[6] = zero; // NW
        }
        if area.lon.min < min_lon {
            nb[4] = zero; // W
            nb[8] = zero; // SW
            nb[6] = zero; // NW
        }
        if area.lon.max > max_lon {
            nb[3] = zero; // E
            nb[7] = zero; // SE
            nb[5] = zero; // NE
        }
    }
    nb[0] = hash;
    nb
}

/// The hash of the centre at `steps`, its eight neighbours (at the same indexes `boxes`
/// returns; index 0 is left for the centre) and the centre's area.
fn cover(lon: f64, lat: f64, steps: u8) -> (Hash, [Hash; 9], Area) {
    let hash = encode_wgs84(lon, lat, steps).unwrap_or(Hash {
        bits: 0,
        step: steps,
    });
    let shifted = |dx: i8, dy: i8| {
        let mut h = hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    };
    let nb = [
        hash,
        shifted(0, 1),   // N
        shifted(0, -1),  // S
        shifted(1, 0),   // E
        shifted(-1, 0),  // W
        shifted(1, 1),   // NE
        shifted(-1, 1),  // NW
        shifted(1, -1),  // SE
        shifted(-1, -1), // SW
    ];
    (hash, nb, decode(LON_RANGE, LAT_RANGE, hash))
}

/// The geohash precision whose boxes are about the size of the search.
fn estimate_steps(mut range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_m < MERCATOR_MAX {
        range_m *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// Degrees to radians, Redis's way (multiplying by PI/180).
fn deg_rad(a: f64) -> f64 {
    a * D_R
}

/// Radians to degrees, Redis's way (dividing by PI/180).
fn rad_deg(a: f64) -> f64 {
    a / D_R
}

/// The distance along a meridian between two latitudes.
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in meters between two positions.
pub(crate) fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// Whether a point (lon, lat) lies in the search shape; its distance from the centre if so.
pub(crate) fn within(s: &Search, lon: f64, lat: f64) -> Option<f64> {
    match s.shape {
        Shape::Radius(r) => {
            let d = distance(s.lon, s.lat, lon, lat);
            (d <= r * s.conversion).then_some(d)
        }
        Shape::Box { width, height } => {
            let (w, h) = (width * s.conversion, height * s.conversion);
            if lat_distance(lat, s.lat) > h / 2.0 {
                return None;
            }
            if distance(lon, lat, s.lon, lat) > w / 2.0 {
                return None;
            }
            Some(distance(s.lon, s.lat, lon, lat))
        }
    }
}

/// A distance as Redis prints it: fixed point with four decimals, rounded half to even.
pub(crate) fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".into();
    }
    let v = (d * 10000.0).round_ties_even() as i64;
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    format!("{sign}{}.{:04}", a / 10000, a % 10000)
}

/// A coordinate as Redis prints it (`%.17Lf` of the exact value, trailing zeros and a
/// bare dot removed, "-0" as "0").
pub(crate) fn format_coord(x: f64) -> String {
    let s = format!("{x:.17}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s.as_str()
    };
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for (a, b) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (u32::MAX, 7),
        ] {
            assert_eq!(deinterleave(interleave(a, b)), (a, b));
        }
    }

    #[test]
    fn scores_decode_inside_their_box() {
        let mut x = 12345u64;
        for _ in 0..10_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let lon = (x >> 11) as f64 / (1u64 << 53) as f64 * 360.0 - 180.0;
            let lat = ((x >> 20) as f64 / (1u64 << 44) as f64) * 170.0 - 85.0;
            let score = lonlat_to_score(lon, lat).expect("in range");
            assert!(score < 1 << 52);
            let (dlon, dlat) = score_to_lonlat(score as f64);
            // A 26-step box is 360/2^26 degrees wide.
            assert!(
                (dlon - lon).abs() <= 360.0 / (1u64 << 26) as f64,
                "{lon} {dlon}"
            );
            assert!(
                (dlat - lat).abs() <= 171.0 / (1u64 << 26) as f64,
                "{lat} {dlat}"
            );
            assert_eq!(lonlat_to_score(dlon, dlat), Some(score));
        }
    }

    #[test]
    fn out_of_range_positions_are_refused() {
        assert_eq!(lonlat_to_score(180.1, 0.0), None);
        assert_eq!(lonlat_to_score(0.0, 85.06), None);
        assert!(lonlat_to_score(-180.0, -85.05112878).is_some());
    }

    #[test]
    fn distances_are_symmetric_and_zero_at_the_same_point() {
        assert_eq!(distance(13.361389, 38.115556, 13.361389, 38.115556), 0.0);
        let d1 = distance(13.361389, 38.115556, 15.087269, 37.502669);
        let d2 = distance(15.087269, 37.502669, 13.361389, 38.115556);
        assert!((d1 - d2).abs() < 1e-6);
        assert!((d1 - 166_274.0).abs() < 10.0, "{d1}");
    }

    #[test]
    fn search_boxes_contain_every_point_in_the_radius() {
        // Every point within the radius must fall in one of the boxes scanned.
        let s = Search {
            lon: 15.0,
            lat: 37.0,
            shape: Shape::Radius(200.0),
            conversion: 1000.0,
        };
        let b = boxes(&s);
        let mut x = 99u64;
        for _ in 0..5000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let lon = 15.0 + ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 6.0;
            let lat = 37.0 + ((x >> 30) as f64 / (1u64 << 34) as f64 - 0.5) * 4.0;
            let score = lonlat_to_score(lon, lat).expect("in range");
            let (plon, plat) = score_to_lonlat(score as f64);
            if within(&s, plon, plat).is_none() {
                continue;
            }
            let found = b.iter().filter(|h| !h.is_zero()).any(|h| {
                let lo = h.align52();
                let hi = Hash {
                    bits: h.bits + 1,
                    step: h.step,
                }
                .align52();
                (lo..hi).contains(&score)
            });
            assert!(found, "{lon},{lat} not covered");
        }
    }

    #[test]
    fn formatting_like_redis() {
        assert_eq!(format_distance(0.0), "0.0000");
        assert_eq!(format_distance(166274.15156960033), "166274.1516");
        assert_eq!(format_distance(-2.5), "-2.5000");
        assert_eq!(format_coord(-0.0), "0");
        assert_eq!(format_coord(2.0), "2");
        assert_eq!(format_coord(-0.5), "-0.5");
    }
}
