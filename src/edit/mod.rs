//! Byte-preserving edits of descriptor files: change one scalar and keep every other byte
//! (comments, order, quoting, line endings) as the author wrote it.

/// Why a version cannot be written: the descriptor's own rule (`config::check_version`).
pub fn check_version(v: &str) -> Result<(), crate::config::VersionError> {
    crate::config::check_version(v)
}

/// Why `set_version` cannot edit a descriptor's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error(transparent)]
    Version(#[from] crate::config::VersionError),
    #[error("no top-level `version:` line to edit")]
    NoVersionLine,
    #[error("an unterminated quoted version")]
    Unterminated,
    #[error("the version is not a plain or quoted scalar; edit it by hand")]
    NotAScalar,
}

/// Scalars a YAML 1.1 or 1.2 reader would not take as a string when unquoted.
fn ambiguous(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    let words = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
    ];
    if words.contains(&lower.as_str()) {
        return true;
    }
    let digits = v.trim_start_matches(['+', '-']);
    let numeric = !digits.is_empty()
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '_' || c == 'e' || c == 'E')
        && digits
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1;
    numeric || v.starts_with("0x") || v.starts_with("0o")
}

/// Replaces the top-level `version:` scalar of `text` with `new`, keeping its quoting style
/// (a plain scalar is quoted when the new value would not read back as a string).
pub fn set_version(text: &str, new: &str) -> Result<String, EditError> {
    check_version(new)?;
    let mut out = String::with_capacity(text.len() + new.len());
    let mut done = false;
    for line in text.split_inclusive('\n') {
        if done || !line.starts_with("version:") {
            out.push_str(line);
            continue;
        }
        let body_end = line.trim_end_matches(['\n', '\r']).len();
        let (body, eol) = line.split_at(body_end);
        let rest = &body["version:".len()..];
        let lead = rest.len() - rest.trim_start().len();
        let value_and_comment = &rest[lead..];
        let (value, tail) = split_value(value_and_comment)?;
        let quoted = match value.chars().next() {
            Some('"') => format!("\"{new}\""),
            Some('\'') => format!("'{new}'"),
            _ if ambiguous(new) => format!("\"{new}\""),
            _ => new.to_string(),
        };
        out.push_str("version:");
        out.push_str(&rest[..lead.max(1).min(rest.len())]);
        if lead == 0 {
            out.push(' ');
        }
        out.push_str(&quoted);
        out.push_str(tail);
        out.push_str(eol);
        done = true;
    }
    if !done {
        return Err(EditError::NoVersionLine);
    }
    Ok(out)
}

/// Splits `"1.2" # note` into the scalar and what follows it (spaces and comment).
fn split_value(s: &str) -> Result<(&str, &str), EditError> {
    let end = match s.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let close = s[1..].find(q).ok_or(EditError::Unterminated)?;
            close + 2
        }
        Some('|' | '>' | '&' | '*' | '!' | '[' | '{') => return Err(EditError::NotAScalar),
        _ => s.find(" #").unwrap_or(s.len()),
    };
    let value = s[..end].trim_end();
    Ok((value, &s[value.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_other_byte() {
        let text = "# api, owned by team-api\nservice: api\nversion: \"1.4.2\"   # bumped nightly\r\nmaintainer: a@example.com\n  version: nested-stays\n";
        let out = set_version(text, "1.4.3").unwrap();
        assert_eq!(out, text.replace("\"1.4.2\"", "\"1.4.3\""));
        let single = "version: '1.0'\n";
        assert_eq!(set_version(single, "1.1").unwrap(), "version: '1.1'\n");
    }

    #[test]
    fn plain_scalars_are_quoted_only_when_they_would_not_read_as_strings() {
        assert_eq!(
            set_version("version: v1.2.3\n", "v1.2.4").unwrap(),
            "version: v1.2.4\n"
        );
        assert_eq!(
            set_version("version: v1\n", "1.10").unwrap(),
            "version: \"1.10\"\n"
        );
        assert_eq!(
            set_version("version: abc # x\n", "2").unwrap(),
            "version: \"2\" # x\n"
        );
        assert_eq!(
            set_version("version: a\n", "no").unwrap(),
            "version: \"no\"\n"
        );
        assert_eq!(
            set_version("version: a\n", "1.2.3").unwrap(),
            "version: 1.2.3\n"
        );
    }

    #[test]
    fn refuses_bad_versions_and_odd_shapes() {
        for bad in ["", "1 2", "1\n2", "a\"b", "-rf", "1#2"] {
            assert!(set_version("version: \"1\"\n", bad).is_err(), "{bad:?}");
        }
        assert!(set_version("service: a\n", "1").is_err());
        assert!(set_version("version: &v 1\n", "2").is_err());
    }
}
