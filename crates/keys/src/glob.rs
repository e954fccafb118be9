//! Glob-style pattern matching with Redis's rules (`*`, `?`, `[abc]`, `[^a-z]`, `\x`), used by
//! KEYS, SCAN MATCH, PSUBSCRIBE and CONFIG GET so that every pattern behaves the same way.

/// Whether `text` matches `pattern`, as Redis's `stringmatchlen` decides. Iterative with
/// one backtrack point per `*`, so a hostile pattern such as `*a*a*a*a*b` costs
/// O(len(pattern) * len(text)), not exponential time (nor a recursion as deep as the
/// pattern has stars). Every atom but `*` takes exactly one byte of text, which is what
/// makes backtracking to the last star alone enough.
///
/// Redis's quirks kept: an empty text matches only the empty pattern (its loop never runs,
/// so not even `*` matches it: callers that treat a lone `*` as "everything" check it
/// first, as Redis does); a class is read as `match_class` says.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    if text.is_empty() {
        return pattern.is_empty();
    }
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, t));
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    let (matched, next) = match_class(pattern, p, text[t], nocase);
                    if matched {
                        p = next;
                        t += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() => {
                    if eq(pattern[p + 1], text[t]) {
                        p += 2;
                        t += 1;
                        continue;
                    }
                }
                c => {
                    if eq(c, text[t]) {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
            }
        }
        // Mismatch: retry from the last star, consuming one more text byte.
        match star {
            Some((sp, st)) => {
                p = sp;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches byte `c` against the class starting at `pattern[start] == b'['`: whether it
/// matched (`^` first negates) and the index after the class. Read as Redis reads it:
/// `\x` is `x` compared exactly (even without case); `a-z` is a range whenever a `-`
/// follows the first byte and a third byte exists, even `]` (so `[a-]` does not end at its
/// `]`), its ends swapped if reversed and compared as C's signed chars (so bytes from 0x80
/// sort below ASCII); a class with no closing `]` runs to the end of the pattern and still
/// matches one byte.
fn match_class(pattern: &[u8], start: usize, c: u8, nocase: bool) -> (bool, usize) {
    let mut i = start + 1;
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let fold = |x: u8| if nocase { x.to_ascii_lowercase() } else { x };
    let mut matched = false;
    let next = loop {
        let rest = pattern.len().saturating_sub(i);
        if rest == 0 {
            break pattern.len();
        }
        let b = pattern[i];
        if b == b'\\' && rest >= 2 {
            matched |= pattern[i + 1] == c;
            i += 2;
        } else if b == b']' {
            break i + 1;
        } else if rest >= 3 && pattern[i + 1] == b'-' {
            // C's char is signed on the platforms Redis is built for.
            let (mut lo, mut hi) = (b as i8, pattern[i + 2] as i8);
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            let (lo, hi, x) = (fold(lo as u8) as i8, fold(hi as u8) as i8, fold(c) as i8);
            matched |= lo <= x && x <= hi;
            i += 3;
        } else {
            matched |= fold(b) == fold(c);
            i += 1;
        }
    };
    (matched != negate, next)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(p: &str, t: &str) -> bool {
        glob_match(p.as_bytes(), t.as_bytes(), false)
    }

    #[test]
    fn basics() {
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hallo"));
        assert!(m("user:*:name", "user:42:name"));
        assert!(!m("user:*:name", "user:42:age"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(glob_match(b"HELLO", b"hello", true));
    }

    /// Redis's stringmatchlen on the edges (each checked against redis-server 7.0 KEYS).
    #[test]
    fn redis_edge_cases() {
        // An empty text matches only the empty pattern.
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(m("", ""));
        // An unterminated class runs to the end of the pattern and takes one byte.
        assert!(m("*[**\\[", "a*"));
        assert!(m("[ab", "b"));
        assert!(!m("[ab", "["));
        assert!(!m("[", "["));
        assert!(m("[^", "x"));
        // `a-]` is a range (']'..'a'); the class goes on after its ']'.
        assert!(m("[a-]", "_"));
        assert!(m("[a-]x]", "x"));
        // Ranges compare signed chars: 0xc3 sorts below 'a'.
        assert!(!glob_match(b"[\xc3-a]", b"b", false));
        assert!(glob_match(b"[a-\xc3]", b"\xe9", false));
        assert!(glob_match(b"[a-\xc3]", b"Z", false));
        // An escape inside a class compares exactly, even without case.
        assert!(!glob_match(b"[\\A]", b"a", true));
        assert!(glob_match(b"[A]", b"a", true));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let text = "a".repeat(10_000);
        assert!(!m("*a*a*a*a*a*a*a*a*a*a*b", &text));
    }
}
