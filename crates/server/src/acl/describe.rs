//! Users back to rules: the text ACL LIST, ACL GETUSER and ACL SAVE show. Redis describes a
//! command bitmap by starting from +@all or -@all, greedily applying the category that fits
//! best, then listing single commands that still differ; we follow the same method so the
//! same user reads the same (single commands come in name order here; Redis's order follows
//! its hash table, so with several single-command rules the order may differ).

use super::catalog::{CATEGORIES, SPECS};
use super::rules::{is_sub, subcommands, Selector, User, READ, WRITE};

/// The command rules of a selector ("+@all -debug", "-@all +get").
pub(crate) fn command_rules(sel: &Selector) -> String {
    let additive = !sel.future;
    let mut fake = Selector::default();
    let mut rules = Vec::new();
    if additive {
        rules.push("-@all".to_string());
        let _ = fake.apply(b"-@all");
    } else {
        rules.push("+@all".to_string());
        let _ = fake.apply(b"+@all");
    }
    let mut temp = sel.clone();
    let mut applied = vec![false; CATEGORIES.len()];
    loop {
        let mut best = None;
        let (mut mindiff, mut maxsame) = (usize::MAX, 0usize);
        for (j, _) in CATEGORIES.iter().enumerate() {
            if applied[j] {
                continue;
            }
            let bit = 1u32 << j;
            let (mut on, mut off) = (0usize, 0usize);
            for (i, s) in SPECS.iter().enumerate() {
                if s.cats & bit != 0 {
                    if temp.allowed[i] {
                        on += 1;
                    } else {
                        off += 1;
                    }
                }
            }
            let (diff, same) = if additive { (off, on) } else { (on, off) };
            if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                best = Some(j);
                mindiff = diff;
                maxsame = same;
            }
        }
        let Some(j) = best else { break };
        let bit = 1u32 << j;
        fake.change_category(bit, additive);
        temp.change_category(bit, !additive);
        rules.push(format!(
            "{}@{}",
            if additive { '+' } else { '-' },
            CATEGORIES[j]
        ));
        applied[j] = true;
    }
    for (i, spec) in SPECS.iter().enumerate() {
        if is_sub(spec) {
            continue;
        }
        single_rule(sel, &mut fake, i, &mut rules);
        for sub in subcommands(spec.name) {
            single_rule(sel, &mut fake, sub, &mut rules);
        }
        if !sel.allowed[i] {
            if let Some((_, args)) = sel.first_args.iter().find(|(c, _)| *c == i) {
                for a in args {
                    rules.push(format!("+{}|{}", spec.name, a));
                }
            }
        }
    }
    rules.join(" ")
}

fn single_rule(sel: &Selector, fake: &mut Selector, i: usize, rules: &mut Vec<String>) {
    if sel.allowed[i] != fake.allowed[i] {
        rules.push(format!(
            "{}{}",
            if sel.allowed[i] { '+' } else { '-' },
            SPECS[i].name
        ));
        fake.change(i, sel.allowed[i]);
    }
}

/// One key pattern as a rule (`~p`, `%R~p`, `%W~p`), the pattern's bytes as they came: a
/// pattern need not be UTF-8 and ACL SAVE must write back exactly what was set.
pub(crate) fn key_pattern(out: &mut Vec<u8>, p: &[u8], flags: u8) {
    let prefix: &[u8] = match flags {
        f if f == READ | WRITE => b"~",
        f if f == READ => b"%R~",
        f if f == WRITE => b"%W~",
        _ => b"~",
    };
    out.extend_from_slice(prefix);
    out.extend_from_slice(p);
}

/// The key patterns of a selector, space separated ("~*" for allkeys).
pub(crate) fn keys(sel: &Selector) -> Vec<u8> {
    if sel.all_keys {
        return b"~*".to_vec();
    }
    let mut out = Vec::new();
    for (i, (p, f)) in sel.keys.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        key_pattern(&mut out, p, *f);
    }
    out
}

/// The channel patterns of a selector, space separated ("&*" for allchannels).
pub(crate) fn channels(sel: &Selector) -> Vec<u8> {
    if sel.all_channels {
        return b"&*".to_vec();
    }
    let mut out = Vec::new();
    for (i, c) in sel.channels.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.push(b'&');
        out.extend_from_slice(c);
    }
    out
}

/// A selector as rules: keys, channels, commands.
fn selector(out: &mut Vec<u8>, sel: &Selector) {
    if sel.all_keys {
        out.extend_from_slice(b"~* ");
    } else {
        for (p, f) in &sel.keys {
            key_pattern(out, p, *f);
            out.push(b' ');
        }
    }
    if sel.all_channels {
        out.extend_from_slice(b"&* ");
    } else {
        out.extend_from_slice(b"resetchannels ");
        for c in &sel.channels {
            out.push(b'&');
            out.extend_from_slice(c);
            out.push(b' ');
        }
    }
    out.extend_from_slice(command_rules(sel).as_bytes());
}

/// The flags ACL GETUSER lists, in Redis's order.
pub(crate) fn flags(u: &User) -> Vec<&'static str> {
    let mut f = vec![if u.enabled { "on" } else { "off" }];
    if u.nopass {
        f.push("nopass");
    }
    match u.sanitize {
        Some(false) => f.push("skip-sanitize-payload"),
        Some(true) => f.push("sanitize-payload"),
        None => {}
    }
    f
}

/// A user as the rules that recreate it (ACL LIST without the "user name " prefix), as
/// bytes: patterns are the client's bytes, not necessarily UTF-8.
pub(crate) fn user(u: &User) -> Vec<u8> {
    let mut out = Vec::new();
    for f in flags(u) {
        out.extend_from_slice(f.as_bytes());
        out.push(b' ');
    }
    for p in &u.passwords {
        out.push(b'#');
        out.extend_from_slice(p.as_bytes());
        out.push(b' ');
    }
    selector(&mut out, &u.root);
    for s in &u.selectors {
        out.extend_from_slice(b" (");
        selector(&mut out, s);
        out.push(b')');
    }
    out
}

/// The ACL file / config line that recreates a user: `user <name> <rules>`, bytes as they
/// are (a user name need not be UTF-8 either).
pub(crate) fn user_line(u: &User) -> Vec<u8> {
    let mut line = b"user ".to_vec();
    line.extend_from_slice(&u.name);
    line.push(b' ');
    line.extend_from_slice(&user(u));
    line
}
