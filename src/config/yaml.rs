//! The only module that touches `serde_yaml`. It treats every file as hostile: size capped
//! before parsing, one document, no duplicate keys at any depth, no anchors, aliases, merge
//! keys or tags, and every error located by file, line, column and field path.
use super::ConfigError;
use serde::de::DeserializeOwned;
use serde_yaml::Value;

/// Files over this size are refused before any parsing (the loader holds every event, ~18x).
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// How much checking a type needs beyond its own typed parse.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Types holding maps: a `Value` pass first, since a typed map keeps the last duplicate.
    ValueFirst,
    /// Types made only of structs, sequences and scalars: serde's derive already refuses a
    /// duplicate field, so the `Value` pass runs only to locate an error (descriptors, where
    /// parsing thousands of files per push makes the second pass the main cost).
    TypedFirst,
}

/// Renders a value as YAML (for `bump`, `init` and round-trip tests).
pub fn render<T: serde::Serialize>(v: &T) -> Result<String, RenderError> {
    serde_yaml::to_string(v).map_err(RenderError)
}

/// A value serde_yaml could not write: a bug in the type, never the user's input.
#[derive(Debug, thiserror::Error)]
#[error("cannot render YAML")]
pub struct RenderError(#[source] serde_yaml::Error);

/// A single lenient pass (unknown keys ignored), for reading one part of a file that was
/// already judged strictly, such as an unchanged descriptor's resources.
/// Its errors name no file (`file` is empty): the caller knows which one it read.
pub fn parse_loose<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ConfigError> {
    let text = prepare("", bytes)?;
    if let Some(t) = super::fast::parse(text) {
        return Ok(t);
    }
    serde_yaml::from_str(text).map_err(|e| ConfigError::new("", e.to_string()))
}

/// The one gate every policy and descriptor passes before any parser sees it: the size
/// cap, UTF-8, and the nesting depth, all in time linear in the size. Returns the text
/// without a byte-order mark.
fn prepare<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, ConfigError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ConfigError::new(
            file,
            format!(
                "file is {} bytes, over the {} byte limit; refused before parsing",
                bytes.len(),
                MAX_FILE_BYTES
            ),
        )
        .hint("split it, or remove what does not belong in a descriptor"));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        ConfigError::new(file, "file is not valid UTF-8")
            .at(Some(line), None)
            .hint("save the file as UTF-8")
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    check_conflict_markers(file, text)?;
    check_depth(file, text)?;
    Ok(text)
}

/// A merge left half done: git's conflict markers make the file unparseable, and libyaml
/// would say so in terms of keys and colons a line or two later.
fn check_conflict_markers(file: &str, text: &str) -> Result<(), ConfigError> {
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("<<<<<<< ") || line == "<<<<<<<" || line.starts_with(">>>>>>> ") {
            return Err(ConfigError::new(file, "unresolved merge conflict (git's conflict markers)")
                .at(Some(i + 1), Some(1))
                .hint("keep the side you want, delete the <<<<<<<, ======= and >>>>>>> lines, then commit"));
        }
    }
    Ok(())
}

/// Deeper nesting than any policy or descriptor needs (they need five or six levels).
/// libyaml's work grows with the square of the depth: 50,000 nested `[` took 22 s before
/// serde_yaml's own limit (128) stopped it, so deeper input is refused before parsing.
pub const MAX_DEPTH: usize = 32;

/// Refuses nesting deeper than `MAX_DEPTH`, in one pass: flow collections (`[`, `{`) plus
/// block nesting (each deeper indentation, and each compact `- ` entry on a line). Quoted
/// scalars, comments, block scalars and a `[` inside a plain scalar are text, not nesting.
/// It over-counts rather than under-counts (an indentation step is a level even where
/// YAML would not nest), which no real file comes near.
fn check_depth(file: &str, text: &str) -> Result<(), ConfigError> {
    let refuse = |line: usize, column: usize| {
        Err(ConfigError::new(
            file,
            format!("nesting deeper than {MAX_DEPTH} levels; descriptors need at most a few"),
        )
        .at(Some(line), Some(column))
        .hint("flatten the file: deeper nesting is refused before parsing, since it costs the parser time with the square of the depth"))
    };
    // Indentations of the open block nodes, innermost last; never more than MAX_DEPTH + 1.
    let mut indents: Vec<usize> = Vec::new();
    let (mut block, mut flow) = (0usize, 0usize);
    let mut quote: Option<u8> = None;
    // Inside a block scalar (`|`, `>`): the indentation of the line that opened it.
    let mut scalar_of: Option<usize> = None;
    for (n, line) in text.split('\n').enumerate() {
        let b = line.as_bytes();
        let indent = b.iter().take_while(|c| **c == b' ').count();
        let blank = matches!(b.get(indent), None | Some(b'#' | b'\r' | b'\t'));
        if let Some(opened) = scalar_of {
            if blank || indent > opened {
                continue;
            }
            scalar_of = None;
        }
        let mut i = indent;
        if quote.is_none() && flow == 0 && !blank {
            while indents.last().is_some_and(|&t| t > indent) {
                indents.pop();
            }
            if indents.last() != Some(&indent) {
                indents.push(indent);
            }
            // `- - - x`: each compact entry on the line nests once more.
            let mut dashes = 0;
            while b.get(i) == Some(&b'-') && matches!(b.get(i + 1), None | Some(b' ')) {
                dashes += 1;
                i += 1;
                while b.get(i) == Some(&b' ') {
                    i += 1;
                }
            }
            block = indents.len() + dashes;
            if block > MAX_DEPTH {
                return refuse(n + 1, indent + 1);
            }
        }
        let mut node_start = true;
        while i < b.len() {
            let c = b[i];
            match quote {
                Some(b'"') => {
                    if c == b'\\' {
                        i += 2;
                        continue;
                    }
                    if c == b'"' {
                        quote = None;
                    }
                }
                Some(_) => {
                    if c == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        quote = None;
                    }
                }
                None => {
                    if c == b'#' && (i == 0 || matches!(b[i - 1], b' ' | b'\t')) {
                        break;
                    }
                    match c {
                        b'"' | b'\'' if node_start => quote = Some(c),
                        b'[' | b'{' if node_start || flow > 0 => {
                            flow += 1;
                            if block + flow > MAX_DEPTH {
                                return refuse(n + 1, i + 1);
                            }
                        }
                        b']' | b'}' if flow > 0 => flow -= 1,
                        b'|' | b'>' if node_start && flow == 0 => {
                            scalar_of = Some(indent);
                            break;
                        }
                        _ => {}
                    }
                    node_start = match c {
                        b' ' | b'\t' => node_start,
                        // Indicators only inside a flow collection; text in a plain scalar.
                        b'[' | b'{' | b',' => flow > 0,
                        b'-' | b':' | b'?' => {
                            matches!(b.get(i + 1), None | Some(b' ' | b'\t' | b'\r'))
                        }
                        _ => false,
                    };
                }
            }
            i += 1;
        }
    }
    Ok(())
}

/// Parses `bytes` into `T`, returning the value and the text it came from.
pub fn parse<T: DeserializeOwned>(
    file: &str,
    bytes: &[u8],
    pass: Pass,
) -> Result<(T, String), ConfigError> {
    parse_traced(file, bytes, pass).map(|(t, text, _)| (t, text))
}

/// `parse`, also saying whether the fast reader answered (every value then sits on one
/// line, which `parse_descriptor_pair` relies on).
pub fn parse_traced<T: DeserializeOwned>(
    file: &str,
    bytes: &[u8],
    pass: Pass,
) -> Result<(T, String, bool), ConfigError> {
    let text = prepare(file, bytes)?;
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---")
    {
        return Err(ConfigError::new(file, "file is empty")
            .at(Some(1), Some(1))
            .hint("an empty descriptor never means \"no service\": delete the file to remove a service"));
    }
    // The fast reader gives up on anchors, tags, duplicates and anything else it is unsure
    // of, so what it accepts needs none of the checks below.
    if pass == Pass::TypedFirst {
        if let Some(t) = super::fast::parse(text) {
            return Ok((t, text.to_string(), true));
        }
    }
    check_anchors(file, text)?;
    // The `Value` pass reports duplicate keys with their location, multi-document input,
    // tags and merge keys; typed maps would silently keep the last duplicate.
    let value_pass = || -> Result<(), ConfigError> {
        let value: Value =
            serde_yaml::from_str(text).map_err(|e| yaml_error(file, text, &e, None))?;
        check_value(file, text, &value, &mut String::new())
    };
    if pass == Pass::ValueFirst {
        value_pass()?;
    }
    // Plain deserialization first; the path-tracking one runs only to explain an error.
    if let Ok(t) = serde_yaml::from_str::<T>(text) {
        return Ok((t, text.to_string(), false));
    }
    let de = serde_yaml::Deserializer::from_str(text);
    let parsed: T = match serde_path_to_error::deserialize(de) {
        Ok(t) => t,
        Err(e) => {
            if pass == Pass::TypedFirst {
                value_pass()?;
            }
            let path = e.path().to_string();
            return Err(yaml_error(file, text, e.inner(), Some(path)));
        }
    };
    Ok((parsed, text.to_string(), false))
}

/// The line and column of the second `key:` at the same indentation, from `from` on.
fn find_duplicate(text: &str, key: &str, from: usize) -> Option<(usize, usize)> {
    let mut seen: Vec<usize> = Vec::new();
    for (i, line) in text.lines().enumerate().skip(from.saturating_sub(1)) {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let t = trimmed.strip_prefix("- ").unwrap_or(trimmed);
        let indent = indent + (trimmed.len() - t.len());
        let bare = t
            .strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with(':'));
        let quoted = [format!("\"{key}\""), format!("'{key}'")].iter().any(|q| {
            t.strip_prefix(q.as_str())
                .is_some_and(|r| r.trim_start().starts_with(':'))
        });
        if bare || quoted {
            if seen.contains(&indent) {
                return Some((i + 1, indent + 1));
            }
            seen.push(indent);
        }
    }
    None
}

fn yaml_error(file: &str, text: &str, e: &serde_yaml::Error, path: Option<String>) -> ConfigError {
    let loc = e.location();
    let mut message = e.to_string();
    // serde_yaml appends " at line L column C"; we print the location in front instead.
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    let mut path = path.filter(|p| p != ".");
    if path.is_none() {
        // From the `Value` pass: "inner.a: duplicate entry ..." carries its own path.
        if let Some((prefix, rest)) = message.split_once(": ") {
            if !prefix.contains(' ') && rest.starts_with("duplicate entry") {
                path = Some(prefix.to_string());
            }
        }
    }
    // serde_yaml may also prefix (part of) the path ("a.b: msg"); keep one copy of it.
    if let Some(p) = &path {
        if let Some((prefix, rest)) = message.split_once(": ") {
            if p.starts_with(prefix) && !prefix.contains(' ') {
                message = rest.to_string();
            }
        }
    }
    let (mut line, mut column) = (
        loc.as_ref().map(|l| l.line()),
        loc.as_ref().map(|l| l.column()),
    );
    if let Some(key) = message
        .strip_prefix("duplicate entry with key \"")
        .and_then(|r| r.strip_suffix('"'))
    {
        // serde_yaml points at the mapping; point at the repeated key instead.
        if let Some((l, c)) = find_duplicate(text, key, line.unwrap_or(1)) {
            (line, column) = (Some(l), Some(c));
        }
    }
    // A field's own check (`deserialize_with`) is located by serde_yaml at the mapping that
    // holds it; the field's key line, when later, is the better place.
    if let Some(key_line) = path
        .as_deref()
        .and_then(|p| super::descriptor::line_of(text, p))
    {
        if line.is_some_and(|l| l < key_line) {
            (line, column) = (Some(key_line), None);
        }
    }
    let mut err = ConfigError::new(file, message.clone()).at(line, column);
    if let Some(p) = path {
        err = err.field(p);
    }
    if let Some(hint) = unknown_field_hint(&message) {
        err = err.hint(hint);
    } else if message.contains("more than one document") {
        err = err.hint("keep exactly one YAML document per file: remove the extra `---`");
    } else if message.contains("duplicate") {
        err = err.hint("each key may appear once; remove the repeated one");
    } else if message.contains("missing field") {
        err = err.hint("add the field; `gitops-gate schema` lists every field");
    } else if SYNTAX.iter().any(|m| message.contains(m)) {
        // libyaml's scanner words name the symptom, often a line after the cause.
        err = err.hint(
            "a YAML syntax error: check the indentation (spaces, not tabs) and that every quote and bracket is closed, on this line and the ones above it",
        );
    }
    err
}

/// libyaml's scanner and parser errors: the file is not YAML, whatever the fields.
const SYNTAX: &[&str] = &[
    "did not find expected",
    "could not find expected",
    "found unexpected",
    "mapping values are not allowed",
    "found character that cannot start any token",
    "while scanning",
    "while parsing",
    "unexpected end of stream",
];

/// "did you mean" for serde's `unknown field `x`, expected one of `a`, `b``.
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let best = expected
        .iter()
        .map(|c| (strsim::damerau_levenshtein(field, c), *c))
        .min()
        .filter(|(d, c)| *d <= 2.max(c.len() / 3));
    Some(match best {
        Some((_, c)) => format!("did you mean `{c}`?"),
        None if expected.is_empty() => "remove it".to_string(),
        None => format!("valid keys here are: {}", expected.join(", ")),
    })
}

fn check_value(file: &str, text: &str, v: &Value, path: &mut String) -> Result<(), ConfigError> {
    match v {
        Value::Tagged(t) => Err(ConfigError::new(
            file,
            format!("custom tag `{}` is not allowed", t.tag),
        )
        .field(path.clone())
        .at(find_line(text, &t.tag.to_string()), None)
        .hint("remove the tag: a tag can hide a change of type from the diff")),
        Value::Mapping(m) => {
            for (k, val) in m {
                let key = match k {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => "null".into(),
                    _ => {
                        return Err(ConfigError::new(file, "mapping keys must be plain scalars")
                            .field(path.clone()))
                    }
                };
                if key == "<<" {
                    return Err(ConfigError::new(file, "merge keys (`<<`) are not allowed")
                        .field(path.clone())
                        .at(find_line(text, "<<"), None)
                        .hint("write the fields out in full"));
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key);
                check_value(file, text, val, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Sequence(s) => {
            for (i, val) in s.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_value(file, text, val, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn find_line(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

/// Rejects anchors (`&a`), aliases (`*a`) and tags (`!t`). serde_yaml expands aliases invisibly, so a
/// lexical pass over the (already valid) YAML finds them: outside quotes, comments and
/// block scalars, at a position where a node may start.
fn check_anchors(file: &str, text: &str) -> Result<(), ConfigError> {
    let mut block_indent: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        if let Some(bi) = block_indent {
            if line.trim().is_empty() || indent > bi {
                continue;
            }
            block_indent = None;
        }
        let bytes = line.as_bytes();
        let (mut quote, mut node_start) = (None::<u8>, true);
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            match quote {
                Some(q) => {
                    if c == q {
                        quote = None;
                    }
                }
                None => {
                    if c == b'#' && (i == 0 || bytes[i - 1] == b' ') {
                        break;
                    }
                    if node_start && (c == b'&' || c == b'*' || c == b'!') {
                        let next = bytes.get(i + 1).copied().unwrap_or(b' ');
                        if next != b' ' {
                            let what = match c {
                                b'&' => "anchors",
                                b'*' => "aliases",
                                _ => "tags",
                            };
                            return Err(ConfigError::new(
                                file,
                                format!("YAML {what} are not allowed"),
                            )
                            .at(Some(n + 1), Some(i + 1))
                            .hint("write the value out in full; a reference hides what a field really holds"));
                        }
                    }
                    if node_start && (c == b'"' || c == b'\'') {
                        quote = Some(c);
                    }
                    if node_start && (c == b'|' || c == b'>') {
                        block_indent = Some(indent);
                    }
                    node_start = match c {
                        b' ' => node_start,
                        b'[' | b'{' | b',' => true,
                        b'-' | b':' | b'?' => bytes.get(i + 1).is_none_or(|b| *b == b' '),
                        _ => false,
                    };
                }
            }
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        name: String,
        #[serde(default)]
        inner: Option<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        retries: u32,
    }

    fn err(text: &str) -> ConfigError {
        parse::<T>("f.yaml", text.as_bytes(), Pass::ValueFirst).unwrap_err()
    }

    #[test]
    fn duplicate_keys_at_any_depth_are_located() {
        let e = err("name: a\nname: b\n");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("duplicate"), "{e}");
        let e = err("name: a\ninner:\n  retries: 1\n  retries: 0\n");
        assert_eq!(e.line, Some(4), "{e}");
    }

    #[test]
    fn typed_first_still_refuses_and_locates_duplicates() {
        let e = parse::<T>(
            "f.yaml",
            b"name: a\ninner:\n  retries: 1\n  retries: 0\n",
            Pass::TypedFirst,
        )
        .unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("duplicate"), "{e}");
        let e = parse::<T>("f.yaml", b"name: !custom a\n", Pass::TypedFirst).unwrap_err();
        assert!(e.message.contains("tags"), "{e}");
    }

    #[test]
    fn unknown_key_suggests_the_close_one() {
        let e = err("nmae: a\n");
        assert_eq!(e.line, Some(1));
        assert_eq!(e.hint.as_deref(), Some("did you mean `name`?"), "{e}");
        let e = err("name: a\ninner:\n  retires: 3\n");
        assert_eq!(e.field.as_deref(), Some("inner.retires"), "{e}");
        assert_eq!(e.message, "unknown field `retires`, expected `retries`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `retries`?"));
        assert_eq!(e.line, Some(3));
    }

    #[test]
    fn type_errors_name_the_field_path() {
        let e = err("name: a\ninner:\n  retries: ten\n");
        assert_eq!(e.field.as_deref(), Some("inner.retries"), "{e}");
        assert_eq!(e.line, Some(3));
    }

    #[test]
    fn hostile_shapes_are_refused() {
        assert!(err("name: a\n---\nname: b\n")
            .message
            .contains("more than one document"));
        assert!(err("").message.contains("empty"));
        assert!(err("# only a comment\n").message.contains("empty"));
        assert!(err("a: &x 1\nname: *x\n").message.contains("anchors"));
        assert!(err("name: !custom a\n").message.contains("tag"));
        assert!(err("base: {name: a}\n<<: {name: b}\n")
            .message
            .contains("merge"));
        let big = format!("name: \"{}\"\n", "x".repeat(MAX_FILE_BYTES));
        assert!(err(&big).message.contains("limit"));
        assert!(parse::<T>("f.yaml", b"name: \xff\n", Pass::TypedFirst)
            .unwrap_err()
            .message
            .contains("UTF-8"));
    }

    #[test]
    fn anchors_inside_quotes_or_comments_are_text() {
        let (t, _) =
            parse::<T>("f.yaml", b"name: \"a &b *c\" # &d *e\n", Pass::TypedFirst).unwrap();
        assert_eq!(t.name, "a &b *c");
        let (t, _) = parse::<T>("f.yaml", b"name: a*b&c\n", Pass::TypedFirst).unwrap();
        assert_eq!(t.name, "a*b&c");
    }

    fn depth_err(text: &str) -> ConfigError {
        parse::<Value>("f.yaml", text.as_bytes(), Pass::ValueFirst).unwrap_err()
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing_with_its_place() {
        let e = depth_err(&format!("a: 1\nb: {}\n", "[".repeat(50_000)));
        assert_eq!(
            e.message,
            "nesting deeper than 32 levels; descriptors need at most a few"
        );
        // `b:` is one block level, so the 32nd `[` (column 35) is the 33rd level.
        assert_eq!((e.line, e.column), (Some(2), Some(35)), "{e}");
        let e = depth_err(&format!("x: {}", "{a: ".repeat(40)));
        assert_eq!((e.line, e.column), (Some(1), Some(4 + 31 * 4)), "{e}");
        // Block nesting by indentation, and compact sequences on one line.
        let block: String = (0..40)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        let e = depth_err(&block);
        assert_eq!((e.line, e.column), (Some(33), Some(33)), "{e}");
        let e = depth_err(&format!("{}x\n", "- ".repeat(40)));
        assert_eq!(e.line, Some(1), "{e}");
        // A flow collection spanning lines keeps its depth.
        let e = depth_err(&format!("a:\n{}\n", "[\n".repeat(40)));
        assert!(e.message.contains("nesting deeper"), "{e}");
        // The loose reader goes through the same gate.
        let loose = parse_loose::<Value>(format!("a: {}", "[".repeat(50_000)).as_bytes());
        assert!(loose.unwrap_err().message.contains("nesting deeper"));
    }

    #[test]
    fn brackets_in_quotes_comments_and_plain_text_are_not_nesting() {
        let deep = "[".repeat(100);
        for text in [
            format!("name: \"{deep}\"\n"),
            format!("name: '{deep} it''s [[' # {deep}\n"),
            format!("# {deep}\nname: a{deep}\n"),
            format!("name: \"a\\\"{deep}\"\n"),
            format!("name: |\n  {deep}\n  {{{{{{\n"),
            format!("name: \"multi\n  line {deep}\"\n"),
            format!("name: x\ninner: {{retries: 1}} # {deep}\n"),
        ] {
            parse::<T>("f.yaml", text.as_bytes(), Pass::ValueFirst)
                .unwrap_or_else(|e| panic!("{text}: {e}"));
        }
        // Up to the limit parses as before.
        let ok = format!("a: {}1{}\n", "[".repeat(31), "]".repeat(31));
        parse::<Value>("f.yaml", ok.as_bytes(), Pass::ValueFirst).unwrap();
    }

    #[test]
    fn billion_laughs_is_refused_quickly() {
        let mut s = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (i, c) in ('b'..='i').enumerate() {
            let prev = (b'a' + i as u8) as char;
            s.push_str(&format!("{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        }
        assert!(parse::<T>("f.yaml", s.as_bytes(), Pass::TypedFirst).is_err());
    }

    /// A half-done merge is named as one, at the marker, and a syntax error gets a hint;
    /// `=======` alone (a YAML-legal plain scalar elsewhere) is not taken for a marker.
    #[test]
    fn conflict_markers_and_syntax_errors_say_what_to_do() {
        let conflict = "name: a\n<<<<<<< HEAD\nx: 1\n=======\nx: 2\n>>>>>>> other\n";
        let e = parse::<T>("f.yaml", conflict.as_bytes(), Pass::TypedFirst).unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.line),
            (
                "unresolved merge conflict (git's conflict markers)",
                Some(2)
            )
        );
        assert!(e.hint.as_deref().unwrap().contains("delete the <<<<<<<"));
        let e = parse::<T>("f.yaml", b"name: \"open\ninner: 1\n", Pass::TypedFirst).unwrap_err();
        assert!(
            e.hint
                .as_deref()
                .unwrap()
                .starts_with("a YAML syntax error"),
            "{e:?}"
        );
    }
}
