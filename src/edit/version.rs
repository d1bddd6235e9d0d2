//! Sets the top-level `version:` scalar of a descriptor, keeping every other byte:
//! comments, key order, indentation, line endings and the quoting style. An unquoted old
//! value stays unquoted unless the new one would read as something other than that string
//! in YAML (`1.10` is a float, `true` a bool): then it is double-quoted.
use crate::config;
use crate::error::Failure;
use regex::Regex;
use std::sync::OnceLock;

/// Refuses versions that cannot be a version: empty, whitespace, control characters, or
/// longer than 128 bytes.
pub fn check_version(v: &str) -> Result<(), Failure> {
    let bad = if v.is_empty() {
        Some("is empty")
    } else if v.len() > 128 {
        Some("is longer than 128 bytes")
    } else if v.chars().any(char::is_whitespace) {
        Some("contains whitespace")
    } else if v.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    };
    match bad {
        Some(why) => Err(Failure::invalid(format!("version {v:?} {why}"))
            .hint("pass a version like 1.4.3 or 2026.12.01-abc123")),
        None => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Double,
    Single,
}

/// Would `v` as a plain scalar read back as exactly the string `v`?
fn plain_is_string(v: &str) -> bool {
    static SAFE: OnceLock<Regex> = OnceLock::new();
    static NUMERIC: OnceLock<Regex> = OnceLock::new();
    let safe = SAFE.get_or_init(|| Regex::new(r"^[A-Za-z0-9][A-Za-z0-9._+/-]*$").expect("regex"));
    let numeric = NUMERIC.get_or_init(|| {
        Regex::new(
            r"^([-+]?([0-9][0-9_]*(\.[0-9_]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?|0x[0-9A-Fa-f_]+|0o[0-7_]+|0b[01_]+|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*)$",
        )
        .expect("regex")
    });
    let reserved = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf",
    ];
    safe.is_match(v) && !numeric.is_match(v) && !reserved.contains(&v.to_ascii_lowercase().as_str())
}

fn quote(v: &str, style: Style) -> String {
    match style {
        Style::Plain => v.to_string(),
        Style::Single => format!("'{}'", v.replace('\'', "''")),
        Style::Double => format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

/// The byte span of the value of the top-level `version:` key and its quoting style.
fn locate(text: &str) -> Result<(usize, usize, Style), String> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let Some(rest) = line.strip_prefix("version") else {
            continue;
        };
        let rest_trim = rest.trim_start_matches([' ', '\t']);
        let Some(after) = rest_trim.strip_prefix(':') else {
            continue;
        };
        let lead = after.len() - after.trim_start_matches([' ', '\t']).len();
        let vstart = start + line.len() - after.len() + lead;
        let body = &text[vstart..offset];
        let body = body.trim_end_matches(['\n', '\r']);
        if body.is_empty() || body.starts_with('#') {
            return Err("`version:` has no value on its line".into());
        }
        let (len, style) = match body.as_bytes()[0] {
            b'"' => {
                let mut i = 1;
                let bytes = body.as_bytes();
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if i >= bytes.len() {
                    return Err("the quoted version does not end on its line".into());
                }
                (i + 1, Style::Double)
            }
            b'\'' => {
                let bytes = body.as_bytes();
                let mut i = 1;
                loop {
                    if i >= bytes.len() {
                        return Err("the quoted version does not end on its line".into());
                    }
                    if bytes[i] == b'\'' {
                        if bytes.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                (i + 1, Style::Single)
            }
            b'|' | b'>' | b'&' | b'*' | b'!' | b'[' | b'{' => {
                return Err(
                    "`version:` is not a simple scalar (block, anchor, tag or collection)".into(),
                )
            }
            _ => {
                // A plain scalar ends at ` #` (a comment) or the end of the line.
                let end = body
                    .find(" #")
                    .or_else(|| body.find("\t#"))
                    .unwrap_or(body.len());
                (
                    body[..end].trim_end_matches([' ', '\t']).len(),
                    Style::Plain,
                )
            }
        };
        return Ok((vstart, vstart + len, style));
    }
    Err("no top-level `version:` line".into())
}

/// Returns `text` with the version set to `new`, validated as a descriptor.
pub fn set_version(file: &str, service: &str, text: &[u8], new: &str) -> Result<Vec<u8>, Failure> {
    check_version(new)?;
    let text =
        std::str::from_utf8(text).map_err(|_| Failure::invalid(format!("{file} is not UTF-8")))?;
    let (start, end, style) = locate(text).map_err(|why| {
        Failure::invalid(format!("cannot edit the version in {file}: {why}"))
            .hint("write `version: \"X\"` on its own line at the top level of the descriptor")
    })?;
    let style = match style {
        Style::Plain if !plain_is_string(new) => Style::Double,
        s => s,
    };
    let mut out = String::with_capacity(text.len() + new.len());
    out.push_str(&text[..start]);
    out.push_str(&quote(new, style));
    out.push_str(&text[end..]);
    let parsed = config::parse_descriptor(file, service, out.as_bytes()).map_err(|e| {
        Failure::invalid(format!(
            "{file} would not be a valid descriptor after the edit: {e}"
        ))
    })?;
    if parsed.version != new {
        return Err(Failure::invalid(format!(
            "{file}: the edited version reads back as {:?}, not {new:?}",
            parsed.version
        )));
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# api descriptor\r\nservice: api   # the name\r\nversion:   1.4.2   # bumped nightly\r\nmaintainer: 'team-api@example.com'\r\nport: 8080\r\n";

    fn set(text: &str, v: &str) -> String {
        String::from_utf8(set_version("services/api.yaml", "api", text.as_bytes(), v).unwrap())
            .unwrap()
    }

    #[test]
    fn plain_stays_plain_and_every_other_byte_is_kept() {
        let out = set(DOC, "1.4.3");
        assert_eq!(out, DOC.replace("1.4.2", "1.4.3"));
    }

    #[test]
    fn ambiguous_plain_value_is_quoted() {
        let out = set(DOC, "1.10");
        assert_eq!(out, DOC.replace("1.4.2", "\"1.10\""));
        assert_eq!(set(DOC, "true"), DOC.replace("1.4.2", "\"true\""));
        assert_eq!(
            set(DOC, "2026-12-01"),
            DOC.replace("1.4.2", "\"2026-12-01\"")
        );
    }

    #[test]
    fn quoting_styles_are_kept() {
        let d = "service: api\nversion: \"1.4.2\" # q\nmaintainer: a@example.com\n";
        assert_eq!(set(d, "1.10"), d.replace("1.4.2", "1.10"));
        let s = "service: api\nversion: '1.4.2'\nmaintainer: a@example.com\n";
        assert_eq!(set(s, "it's"), s.replace("'1.4.2'", "'it''s'"));
    }

    #[test]
    fn nested_version_keys_are_not_touched() {
        let d = "service: api\n# version: 0.9 (old)\nversion: 1.0.0\nmaintainer: a@example.com\nnotify: {}\n";
        assert_eq!(set(d, "1.0.1"), d.replace("1.0.0", "1.0.1"));
    }

    #[test]
    fn malformed_versions_are_refused() {
        for v in ["", "1.0 ", "a\tb", "1\u{7}"] {
            assert!(set_version("f", "api", DOC.as_bytes(), v).is_err(), "{v:?}");
        }
    }

    #[test]
    fn a_block_scalar_is_refused() {
        let d = "service: api\nversion: |\n  1.0\nmaintainer: a@example.com\n";
        assert!(set_version("f", "api", d.as_bytes(), "1.1").is_err());
    }
}
