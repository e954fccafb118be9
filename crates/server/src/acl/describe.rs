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

/// One key pattern as a rule (`~p`, `%R~p`, `%W~p`).
pub(crate) fn key_pattern(p: &[u8], flags: u8) -> String {
    let prefix = match flags {
        f if f == READ | WRITE => "~",
        f if f == READ => "%R~",
        f if f == WRITE => "%W~",
        _ => "~",
    };
    format!("{prefix}{}", String::from_utf8_lossy(p))
}

/// The key patterns of a selector, space separated ("~*" for allkeys).
pub(crate) fn keys(sel: &Selector) -> String {
    if sel.all_keys {
        return "~*".into();
    }
    sel.keys
        .iter()
        .map(|(p, f)| key_pattern(p, *f))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The channel patterns of a selector, space separated ("&*" for allchannels).
pub(crate) fn channels(sel: &Selector) -> String {
    if sel.all_channels {
        return "&*".into();
    }
    sel.channels
        .iter()
        .map(|c| format!("&{}", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A selector as rules: keys, channels, commands.
pub(crate) fn selector(sel: &Selector) -> String {
    let mut out = String::new();
    if sel.all_keys {
        out.push_str("~* ");
    } else {
        for (p, f) in &sel.keys {
            out.push_str(&key_pattern(p, *f));
            out.push(' ');
        }
    }
    if sel.all_channels {
        out.push_str("&* ");
    } else {
        out.push_str("resetchannels ");
        for c in &sel.channels {
            out.push('&');
            out.push_str(&String::from_utf8_lossy(c));
            out.push(' ');
        }
    }
    out.push_str(&command_rules(sel));
    out
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

/// A user as the rules that recreate it (ACL LIST without the "user name " prefix).
pub(crate) fn user(u: &User) -> String {
    let mut out = String::new();
    for f in flags(u) {
        out.push_str(f);
        out.push(' ');
    }
    for p in &u.passwords {
        out.push('#');
        out.push_str(p);
        out.push(' ');
    }
    out.push_str(&selector(&u.root));
    for s in &u.selectors {
        out.push_str(" (");
        out.push_str(&selector(s));
        out.push(')');
    }
    out
}
