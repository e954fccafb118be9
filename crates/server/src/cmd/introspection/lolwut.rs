//! LOLWUT [VERSION v] [args]: Redis's computer art. The 7.0 default prints the version
//! line; VERSION 5 draws Georg Nees' "Schotter" in braille characters, VERSION 6 a
//! skyline in ANSI colours, with Redis's geometry, limits and captions (the random parts
//! use our generator, so only their shape, not their bytes, matches a given Redis run).

use super::*;
use rand::Rng;

/// LOLWUT [VERSION v] [...]
pub(super) fn lolwut(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut rest = &args[1..];
    let mut version = crate::script::VERSION.to_string();
    if rest.len() >= 2 && is(&rest[0], "version") {
        let v = int(&rest[1])?;
        version = format!("{}.0.0", v as u32);
        rest = &rest[2..];
    }
    let v = version.as_bytes();
    let text = if (v.starts_with(b"5.") && v.get(2) != Some(&b'9')) || v.starts_with(b"4.9") {
        schotter(ctx, rest)?
    } else if (v.starts_with(b"6.") && v.get(2) != Some(&b'9')) || v.starts_with(b"5.9") {
        skyline(ctx, rest)?
    } else {
        format!("Redis ver. {}\n", crate::script::VERSION)
    };
    Ok(Reply::Verbatim(VerbatimFormat::Txt, text.into()))
}

/// The optional numeric arguments, each clamped to `lo..=hi` (Redis's limits).
fn numbers(rest: &[Bytes], defaults: &[i64], lo: i64, hi: i64) -> Result<Vec<i64>, Reply> {
    defaults
        .iter()
        .enumerate()
        .map(|(i, d)| match rest.get(i) {
            Some(a) => int(a).map(|n| n.clamp(lo, hi)),
            None => Ok((*d).clamp(lo, hi)),
        })
        .collect()
}

/// A pixel canvas (lolwut.c's lwCanvas).
struct Canvas {
    width: i64,
    height: i64,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i64, height: i64, bg: u8) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![bg; (width.max(0) * height.max(0)) as usize],
        }
    }

    fn set(&mut self, x: i64, y: i64, color: u8) {
        if x >= 0 && x < self.width && y >= 0 && y < self.height {
            self.pixels[(x + y * self.width) as usize] = color;
        }
    }

    fn get(&self, x: i64, y: i64) -> u8 {
        if x >= 0 && x < self.width && y >= 0 && y < self.height {
            self.pixels[(x + y * self.width) as usize]
        } else {
            0
        }
    }

    /// Bresenham's line.
    fn line(&mut self, mut x1: i64, mut y1: i64, x2: i64, y2: i64, color: u8) {
        let (dx, dy) = ((x2 - x1).abs(), (y2 - y1).abs());
        let (sx, sy) = (if x1 < x2 { 1 } else { -1 }, if y1 < y2 { 1 } else { -1 });
        let mut err = dx - dy;
        loop {
            self.set(x1, y1, color);
            if x1 == x2 && y1 == y2 {
                break;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// A square centred on (x, y), `size` across its diagonal... as lwDrawSquare.
    fn square(&mut self, x: i64, y: i64, size: f32, angle: f32, color: u8) {
        let size = (size / std::f32::consts::SQRT_2).round();
        let mut k = std::f32::consts::FRAC_PI_4 + angle;
        let mut px = [0i64; 4];
        let mut py = [0i64; 4];
        for j in 0..4 {
            px[j] = (k.sin() * size + x as f32).round() as i64;
            py[j] = (k.cos() * size + y as f32).round() as i64;
            k += std::f32::consts::FRAC_PI_2;
        }
        for j in 0..4 {
            self.line(px[j], py[j], px[(j + 1) % 4], py[(j + 1) % 4], color);
        }
    }
}

/// LOLWUT VERSION 5 [cols [squares-per-row [squares-per-col]]]
fn schotter(ctx: &mut Ctx, rest: &[Bytes]) -> Result<String, Reply> {
    let n = numbers(rest, &[66, 8, 12], 1, 1000)?;
    let cols = n[0];
    let per_row = n[1].min(200);
    let per_col = n[2].min(200);
    let width = cols * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32) as i64 + padding * 2;
    let mut canvas = Canvas::new(width, height, 0);
    let rng = &mut ctx.store.rng;
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0 + padding as f32) as i64;
            let mut sy = (y as f32 * side + side / 2.0 + padding as f32) as i64;
            let mut angle = 0.0f32;
            if y > 1 {
                let mut r = [0f32; 3];
                for v in &mut r {
                    *v = rng.gen::<f32>() / per_col as f32 * y as f32;
                }
                for v in &mut r {
                    if rng.gen::<bool>() {
                        *v = -*v;
                    }
                }
                angle = r[0];
                sx += (r[1] * side / 3.0) as i64;
                sy += (r[2] * side / 3.0) as i64;
            }
            canvas.square(sx, sy, side, angle, 1);
        }
    }
    let mut text = String::new();
    let mut y = 0;
    while y < canvas.height {
        let mut x = 0;
        while x < canvas.width {
            let bits = [
                (x, y, 0),
                (x, y + 1, 1),
                (x, y + 2, 2),
                (x + 1, y, 3),
                (x + 1, y + 1, 4),
                (x + 1, y + 2, 5),
                (x, y + 3, 6),
                (x + 1, y + 3, 7),
            ];
            let byte = bits
                .iter()
                .filter(|(px, py, _)| canvas.get(*px, *py) != 0)
                .fold(0u32, |b, (_, _, bit)| b | (1 << bit));
            text.push(char::from_u32(0x2800 + byte).unwrap_or(' '));
            x += 2;
        }
        if y != canvas.height - 1 {
            text.push('\n');
        }
        y += 4;
    }
    text.push_str("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. ");
    text.push_str(crate::script::VERSION);
    text.push('\n');
    Ok(text)
}

/// LOLWUT VERSION 6 [cols [rows]]
fn skyline(ctx: &mut Ctx, rest: &[Bytes]) -> Result<String, Reply> {
    let n = numbers(rest, &[80, 20], 1, 1000)?;
    let mut canvas = Canvas::new(n[0], n[1], 3);
    let rng = &mut ctx.store.rng;
    let mut rand = move || rng.gen_range(0..i32::MAX as i64);
    let h = canvas.height;
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < canvas.width {
            offset += rand() % 8;
            let width = 10 + rand() % 9;
            let height = if color == 2 {
                h / 2 + rand() % h / 2
            } else {
                h / 2 + rand() % h / 3
            };
            skyscraper(&mut canvas, offset, width, height, false, color, &mut rand);
            offset += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    let mut offset = -10;
    while offset < canvas.width {
        offset += rand() % 8;
        let mut width = 5 + rand() % 14;
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = h / 3 + rand() % h / 2;
        skyscraper(&mut canvas, offset, width, height, true, 0, &mut rand);
        offset += width + 5;
    }
    let mut text = String::new();
    for y in 0..canvas.height {
        for x in 0..canvas.width {
            let ce = match canvas.get(x, y) {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            text.push_str(&format!("\x1b[{ce} \x1b[0m"));
        }
        if y != canvas.height - 1 {
            text.push('\n');
        }
    }
    text.push_str("\nDedicated to the 8 bit game developers of past and present.\nOriginal 8 bit image from Plaguemon by hikikomori. Redis ver. ");
    text.push_str(crate::script::VERSION);
    text.push('\n');
    Ok(text)
}

/// One building of the skyline, with lit windows when asked.
fn skyscraper(
    canvas: &mut Canvas,
    xoff: i64,
    width: i64,
    height: i64,
    windows: bool,
    color: u8,
    rand: &mut impl FnMut() -> i64,
) {
    let starty = canvas.height - 1;
    let endy = starty - height + 1;
    let mut y = starty;
    while y >= endy {
        for x in xoff..xoff + width {
            if y == endy && (x <= xoff + 1 || x >= xoff + width - 2) {
                continue;
            }
            let mut c = color;
            if windows && x > xoff + 1 && x < xoff + width - 2 && y > endy + 1 && y < starty - 1 {
                let relx = x - (xoff + 1);
                let rely = y - (endy + 1);
                if (relx / 2) % 2 != 0 && rely % 2 != 0 {
                    loop {
                        c = 1 + (rand() % 2) as u8;
                        if c != color {
                            break;
                        }
                    }
                    if relx % 2 != 0 {
                        c = canvas.get(x - 1, y);
                    }
                }
            }
            canvas.set(x, y, c);
        }
        y -= 1;
    }
}
