//! Reading an ACL file (`aclfile`, ACL LOAD) the way Redis 7.0 reads it, so that a file
//! written for Redis, or by Redis's ACL SAVE, loads here with the same result and the same
//! error text. This differs from `user` lines in a config file (`command::parse_users`):
//! a line is split at single spaces, without quotes, and `#` starts no comment.

use super::rules::{has_spaces, merge_selector_args, RuleError, User};
use bytes::Bytes;

/// Parses the text of the ACL file at `path` into its users. On failure, the errors of
/// every line, as Redis words them (they name the file and the line), followed by the
/// warning that nothing was changed.
pub(crate) fn parse(text: &[u8], path: &str) -> Result<Vec<User>, String> {
    let mut users: Vec<User> = Vec::new();
    // Names of every user a line created, also those whose rules then failed: a later line
    // for the same name is a duplicate, as in Redis.
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut errors = String::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let line = trim(line, b" \t\r\n");
        if line.is_empty() {
            continue;
        }
        // Every single space separates, so two in a row make an empty word (a no-op rule).
        let words: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        if words.len() < 2 || words[0] != b"user" {
            errors +=
                &format!("{path}:{n} should start with user keyword followed by the username. ");
            continue;
        }
        let name = words[1];
        if has_spaces(name) {
            errors += &format!(
                "'{path}:{n}: username '{}' contains invalid characters. ",
                String::from_utf8_lossy(name)
            );
            continue;
        }
        if names.iter().any(|known| known == name) {
            errors += &format!(
                "WARNING: Duplicate user '{}' found on line {n}. ",
                String::from_utf8_lossy(name)
            );
            continue;
        }
        names.push(name.to_vec());
        let rules: Vec<Bytes> = words[2..]
            .iter()
            .map(|w| Bytes::copy_from_slice(w))
            .collect();
        let Ok(rules) = merge_selector_args(&rules) else {
            errors += &format!("{path}:{n}: Unmatched parenthesis in selector definition.");
            continue;
        };
        let mut user = User::new(name);
        let mut failed = false;
        for rule in &rules {
            let rule = trim(rule, b"\t\r\n");
            match user.apply(rule) {
                Ok(()) => {}
                // An unknown command is named: it tells nothing secret.
                Err(RuleError::UnknownCommand) => {
                    errors += &format!(
                        "{path}:{n}: Error in applying operation '{}': {}. ",
                        String::from_utf8_lossy(rule),
                        RuleError::UnknownCommand.text()
                    );
                    failed = true;
                }
                // Other errors may concern a password: only the first is reported.
                Err(e) => {
                    if !failed {
                        errors += &format!("{path}:{n}: {}. ", e.text());
                    }
                    failed = true;
                }
            }
        }
        if errors.is_empty() {
            users.push(user);
        }
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        errors += "WARNING: ACL errors detected, no change to the previously active ACL rules was performed";
        Err(errors)
    }
}

/// `s` without the bytes of `set` at either end (sdstrim).
fn trim<'a>(s: &'a [u8], set: &[u8]) -> &'a [u8] {
    let start = s.iter().position(|b| !set.contains(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !set.contains(b))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_like_sdstrim() {
        assert_eq!(trim(b" \tab c\r\n", b" \t\r\n"), b"ab c");
        assert_eq!(trim(b"   ", b" "), b"");
        assert_eq!(trim(b"", b" "), b"");
    }

    #[test]
    fn double_spaces_are_empty_rules_and_hash_is_no_comment() {
        let users = parse(b"user a on  nopass\n", "f").unwrap_or_default();
        assert_eq!(users.len(), 1);
        let e = parse(b"# note\nuser a on\n", "f").unwrap_err();
        assert!(e.starts_with("f:1 should start with user keyword"), "{e}");
    }

    #[test]
    fn a_failed_line_still_names_its_user() {
        let e = parse(b"user a +nosuch\nuser a on\n", "f").unwrap_err();
        assert!(
            e.contains("f:1: Error in applying operation '+nosuch'"),
            "{e}"
        );
        assert!(
            e.contains("WARNING: Duplicate user 'a' found on line 2. "),
            "{e}"
        );
        assert!(e.ends_with("no change to the previously active ACL rules was performed"));
    }
}
