//! A fast path for the plain YAML that nearly every descriptor is written in.
//!
//! A push can carry thousands of descriptors, and `serde_yaml` spends about 50 µs on each
//! (libyaml's scanner plus an event buffer), which made parsing the whole cost of a large push.
//! This reader handles a deliberately small subset: printable ASCII, block mappings and
//! sequences, one-line flow collections, one-line quoted scalars and comments. Whatever else
//! it meets (anchors, tags, block scalars, multi-line scalars, escapes, duplicate keys, a
//! type it is unsure of) makes it give up, and the caller parses the file with `serde_yaml`
//! as before, which also produces the located error. So it only has to be right when it
//! answers, and `tests` (plus the fuzz target) check it against `serde_yaml` there.
//!
//! Scalars resolve exactly as `serde_yaml` 0.9 resolves them (`de.rs`, `visit_untagged_scalar`):
//! a `String` field takes a plain scalar's text as it is, so `version: 1.10` stays "1.10".
use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};
use std::borrow::Cow;

/// Parses `text` as `T`, or `None` when the text is outside the subset or does not fit `T`.
pub(crate) fn parse<T: DeserializeOwned>(text: &str) -> Option<T> {
    let root = read(text)?;
    T::deserialize(root).ok()
}

/// The value of a top-level `version: <scalar>` line, as a `String` field reads it, when
/// the line is inside the subset; `None` otherwise.
pub(crate) fn version_line(line: &str) -> Option<String> {
    if line.contains('\n') || !printable(line) {
        return None;
    }
    let (k, rest) = key(line.trim_end_matches(' '))?;
    if k != "version" || rest.is_empty() || rest.starts_with('#') {
        return None;
    }
    match inline(rest)? {
        // A null is refused by the full parse, with its location.
        Node::Plain(s) if is_null(s) => None,
        Node::Plain(s) => Some(s.to_string()),
        Node::Quoted(s) => Some(s.into_owned()),
        _ => None,
    }
}

/// Deeper flow nesting than any descriptor needs is left to `serde_yaml`.
const MAX_FLOW_DEPTH: usize = 3;
/// libyaml refuses simple keys over 1024 characters; far shorter ones are all a schema has.
const MAX_KEY: usize = 64;

#[derive(Debug, PartialEq)]
enum Node<'a> {
    Map(Vec<(&'a str, Node<'a>)>),
    Seq(Vec<Node<'a>>),
    /// A plain scalar's text, resolved by the type that reads it.
    Plain(&'a str),
    /// A quoted scalar: always a string.
    Quoted(Cow<'a, str>),
}

struct Line<'a> {
    indent: usize,
    /// The line without its indentation (comments still attached).
    body: &'a str,
}

/// Printable ASCII and line feeds only: libyaml treats some Unicode as line breaks
/// (U+0085, U+2028) and refuses some control characters; tabs and CR have their own rules.
fn printable(text: &str) -> bool {
    text.bytes()
        .all(|b| b == b'\n' || (0x20..0x7f).contains(&b))
}

fn read(text: &str) -> Option<Node<'_>> {
    if !printable(text) {
        return None;
    }
    let mut lines = Vec::with_capacity(32);
    for raw in text.split('\n') {
        let body = raw.trim_start_matches(' ');
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        if body.starts_with("---") || body.starts_with("...") || body.starts_with('%') {
            return None;
        }
        lines.push(Line {
            indent: raw.len() - body.len(),
            body: body.trim_end_matches(' '),
        });
    }
    let first = lines.first()?;
    let mut at = 0;
    let root = block(&lines, &mut at, first.indent)?;
    (at == lines.len()).then_some(root)
}

/// serde_yaml refuses nesting deeper than 128. Every level of block nesting but a
/// same-indent sequence indents further, so bounding the indentation at 48 bounds the
/// recursion well below that; no descriptor comes near it.
const MAX_INDENT: usize = 48;

/// A block mapping or sequence whose entries sit at exactly `indent`.
fn block<'a>(lines: &[Line<'a>], at: &mut usize, indent: usize) -> Option<Node<'a>> {
    if indent > MAX_INDENT {
        return None;
    }
    if is_item(lines[*at].body) {
        sequence(lines, at, indent)
    } else {
        mapping(lines, at, indent)
    }
}

fn is_item(body: &str) -> bool {
    body == "-" || body.starts_with("- ")
}

fn mapping<'a>(lines: &[Line<'a>], at: &mut usize, indent: usize) -> Option<Node<'a>> {
    let mut entries: Vec<(&'a str, Node<'a>)> = Vec::new();
    while let Some(line) = lines.get(*at) {
        if line.indent < indent {
            break;
        }
        if line.indent > indent || is_item(line.body) {
            return None;
        }
        let (key, rest) = key(line.body)?;
        if entries.iter().any(|(k, _)| *k == key) {
            return None;
        }
        *at += 1;
        let value = if rest.is_empty() || rest.starts_with('#') {
            match lines.get(*at) {
                Some(next) if next.indent > indent => block(lines, at, next.indent)?,
                // A sequence may sit at its key's own indentation.
                Some(next) if next.indent == indent && is_item(next.body) => {
                    sequence(lines, at, indent)?
                }
                _ => Node::Plain(""),
            }
        } else {
            let value = inline(rest)?;
            // A deeper line after an inline value would continue a multi-line scalar.
            if lines.get(*at).is_some_and(|next| next.indent > indent) {
                return None;
            }
            value
        };
        entries.push((key, value));
    }
    Some(Node::Map(entries))
}

fn sequence<'a>(lines: &[Line<'a>], at: &mut usize, indent: usize) -> Option<Node<'a>> {
    let mut items = Vec::new();
    while let Some(line) = lines.get(*at) {
        if line.indent < indent || (line.indent == indent && !is_item(line.body)) {
            break;
        }
        if line.indent > indent {
            return None;
        }
        *at += 1;
        let rest = line.body[1..].trim_start_matches(' ');
        let item = if rest.is_empty() || rest.starts_with('#') {
            match lines.get(*at) {
                Some(next) if next.indent > indent => block(lines, at, next.indent)?,
                _ => Node::Plain(""),
            }
        } else {
            let item = inline(rest)?;
            if lines.get(*at).is_some_and(|next| next.indent > indent) {
                return None;
            }
            item
        };
        items.push(item);
    }
    Some(Node::Seq(items))
}

/// `key:` at the start of a line; returns the key and what follows the colon.
fn key(body: &str) -> Option<(&str, &str)> {
    let end = body
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        .unwrap_or(body.len());
    let (key, rest) = body.split_at(end);
    if key.is_empty() || key.len() > MAX_KEY || !key.as_bytes()[0].is_ascii_alphabetic() {
        return None;
    }
    // serde_yaml reads these keys as a bool or null, not as a string.
    if matches!(
        key,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" | "null" | "Null" | "NULL"
    ) {
        return None;
    }
    let rest = rest.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((key, rest.trim_start_matches(' ')))
}

/// A value on the same line as its key or dash: a quoted scalar, a flow collection, or a
/// plain scalar, followed at most by a comment.
fn inline(s: &str) -> Option<Node<'_>> {
    match s.as_bytes()[0] {
        b'"' | b'\'' | b'[' | b'{' => {
            let mut pos = 0;
            let node = flow(s, &mut pos, 0)?;
            only_comment(&s[pos..]).then_some(node)
        }
        _ => {
            let text = match pair_at(s.as_bytes(), b' ', b'#') {
                Some(i) => s[..i].trim_end_matches(' '),
                None => s,
            };
            plain_ok(text, false).then_some(Node::Plain(text))
        }
    }
}

fn only_comment(rest: &str) -> bool {
    let trimmed = rest.trim_start_matches(' ');
    trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < rest.len())
}

/// Whether `text` is read by YAML as exactly this plain scalar. Anything that could start
/// another construct (indicators, `key: value`, a comment) is left to `serde_yaml`.
fn plain_ok(text: &str, in_flow: bool) -> bool {
    let Some(&first) = text.as_bytes().first() else {
        return false;
    };
    if b"-?:,[]{}#&*!|>'\"%@`".contains(&first) {
        return false;
    }
    let b = text.as_bytes();
    if b.ends_with(b":") || pair_at(b, b':', b' ').is_some() || pair_at(b, b' ', b'#').is_some() {
        return false;
    }
    !in_flow || !b.iter().any(|b| b"[]{},:#".contains(b))
}

/// Where the two bytes `a b` first occur (a `str::find` builds a searcher per call, which
/// cost more than the rest of a short scalar's checks).
fn pair_at(s: &[u8], a: u8, b: u8) -> Option<usize> {
    s.windows(2).position(|w| w[0] == a && w[1] == b)
}

/// A one-line flow node at `s[*pos..]`; leaves `pos` after it.
fn flow<'a>(s: &'a str, pos: &mut usize, depth: usize) -> Option<Node<'a>> {
    skip_spaces(s, pos);
    let b = s.as_bytes();
    match *b.get(*pos)? {
        q @ (b'"' | b'\'') => quoted(s, pos, q),
        b'[' if depth < MAX_FLOW_DEPTH => {
            *pos += 1;
            let mut items = Vec::new();
            skip_spaces(s, pos);
            if b.get(*pos) == Some(&b']') {
                *pos += 1;
                return Some(Node::Seq(items));
            }
            loop {
                items.push(flow(s, pos, depth + 1)?);
                skip_spaces(s, pos);
                match *b.get(*pos)? {
                    b',' => *pos += 1,
                    b']' => {
                        *pos += 1;
                        return Some(Node::Seq(items));
                    }
                    _ => return None,
                }
            }
        }
        b'{' if depth < MAX_FLOW_DEPTH => {
            *pos += 1;
            let mut entries: Vec<(&'a str, Node<'a>)> = Vec::new();
            skip_spaces(s, pos);
            if b.get(*pos) == Some(&b'}') {
                *pos += 1;
                return Some(Node::Map(entries));
            }
            loop {
                skip_spaces(s, pos);
                let (k, rest) = key(&s[*pos..])?;
                if entries.iter().any(|(e, _)| *e == k) {
                    return None;
                }
                // `key` consumed the key, the colon and the spaces after it.
                *pos = s.len() - rest.len();
                entries.push((k, flow(s, pos, depth + 1)?));
                skip_spaces(s, pos);
                match *b.get(*pos)? {
                    b',' => *pos += 1,
                    b'}' => {
                        *pos += 1;
                        return Some(Node::Map(entries));
                    }
                    _ => return None,
                }
            }
        }
        b'[' | b'{' => None,
        _ => {
            let start = *pos;
            let len = s[start..]
                .bytes()
                .position(|c| c == b',' || c == b']' || c == b'}')
                .unwrap_or(s.len() - start);
            let text = s[start..start + len].trim_end_matches(' ');
            *pos = start + len;
            plain_ok(text, true).then_some(Node::Plain(text))
        }
    }
}

/// A one-line quoted scalar opening at `s[*pos]` with `quote`. Double quotes take only the
/// escapes `\\` and `\"` (any other is left to serde_yaml); single quotes take `''`.
fn quoted<'a>(s: &'a str, pos: &mut usize, quote: u8) -> Option<Node<'a>> {
    let b = s.as_bytes();
    let start = *pos + 1;
    let mut out: Option<String> = None;
    let mut i = start;
    loop {
        let c = *b.get(i)?;
        let escaped = match (quote, c) {
            (b'"', b'\\') => match *b.get(i + 1)? {
                e @ (b'\\' | b'"') => Some(e),
                _ => return None,
            },
            (b'\'', b'\'') if b.get(i + 1) == Some(&b'\'') => Some(b'\''),
            (q, c) if q == c => break,
            _ => None,
        };
        match escaped {
            Some(e) => {
                out.get_or_insert_with(|| s[start..i].to_string())
                    .push(e as char);
                i += 2;
            }
            None => {
                if let Some(o) = out.as_mut() {
                    o.push(c as char);
                }
                i += 1;
            }
        }
    }
    *pos = i + 1;
    Some(Node::Quoted(match out {
        Some(o) => Cow::Owned(o),
        None => Cow::Borrowed(&s[start..i]),
    }))
}

fn skip_spaces(s: &str, pos: &mut usize) {
    while s.as_bytes().get(*pos) == Some(&b' ') {
        *pos += 1;
    }
}

/// Any mismatch: the caller falls back to `serde_yaml`, which explains it.
#[derive(Debug)]
struct GiveUp;

impl std::fmt::Display for GiveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("outside the fast YAML subset")
    }
}

impl std::error::Error for GiveUp {}

impl de::Error for GiveUp {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        GiveUp
    }
}

fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

impl<'de> de::Deserializer<'de> for Node<'de> {
    type Error = GiveUp;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        match self {
            Node::Map(entries) => v.visit_map(Entries {
                iter: entries.into_iter(),
                value: None,
            }),
            Node::Seq(items) => v.visit_seq(Items(items.into_iter())),
            Node::Quoted(s) => v.visit_str(&s),
            Node::Plain(s) => {
                if is_null(s) {
                    return v.visit_unit();
                }
                match s {
                    "true" | "True" | "TRUE" => return v.visit_bool(true),
                    "false" | "False" | "FALSE" => return v.visit_bool(false),
                    _ => {}
                }
                // Signs, radix prefixes, `.inf` and leading zeros (`007`, a string there)
                // are left to serde_yaml.
                let b = s.as_bytes();
                if s.starts_with(['+', '-', '.'])
                    || (b[0] == b'0' && b.len() > 1 && matches!(b[1], b'x' | b'o' | b'b'))
                {
                    return Err(GiveUp);
                }
                if b.iter().all(u8::is_ascii_digit) {
                    return match is_decimal(s) {
                        true => v.visit_u64(s.parse().map_err(|_| GiveUp)?),
                        false => Err(GiveUp),
                    };
                }
                // As serde_yaml: what Rust reads as a finite float is one (`1.5`, `1e3`);
                // `5s`, `512Mi` and `inf` are strings.
                match s.parse::<f64>() {
                    Ok(f) if f.is_finite() => return v.visit_f64(f),
                    _ => {}
                }
                v.visit_str(s)
            }
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        match self {
            Node::Plain(s) => v.visit_str(s),
            Node::Quoted(s) => v.visit_str(&s),
            _ => Err(GiveUp),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        match self {
            Node::Plain(s) if is_null(s) => v.visit_none(),
            other => v.visit_some(other),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        match self {
            Node::Seq(items) => v.visit_seq(Items(items.into_iter())),
            _ => Err(GiveUp),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        match self {
            Node::Map(entries) => v.visit_map(Entries {
                iter: entries.into_iter(),
                value: None,
            }),
            _ => Err(GiveUp),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, GiveUp> {
        self.deserialize_map(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, GiveUp> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _v: V,
    ) -> Result<V::Value, GiveUp> {
        Err(GiveUp)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct tuple tuple_struct identifier ignored_any
    }
}

struct Items<'de>(std::vec::IntoIter<Node<'de>>);

impl<'de> de::SeqAccess<'de> for Items<'de> {
    type Error = GiveUp;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GiveUp> {
        self.0.next().map(|n| seed.deserialize(n)).transpose()
    }
}

struct Entries<'de> {
    iter: std::vec::IntoIter<(&'de str, Node<'de>)>,
    value: Option<Node<'de>>,
}

impl<'de> de::MapAccess<'de> for Entries<'de> {
    type Error = GiveUp;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GiveUp> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                let key = de::value::BorrowedStrDeserializer::<GiveUp>::new(k);
                seed.deserialize(key).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, GiveUp> {
        seed.deserialize(self.value.take().ok_or(GiveUp)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Descriptor;

    fn slow<T: DeserializeOwned>(text: &str) -> Option<T> {
        serde_yaml::from_str(text).ok()
    }

    /// The fast path either gives up or agrees with serde_yaml.
    /// The fast path answered, and agreed with serde_yaml (`config::fast_path_agrees`).
    fn agrees(text: &str) -> bool {
        assert!(crate::config::fast_path_agrees(text.as_bytes()), "{text}");
        parse::<Descriptor>(text).is_some()
    }

    const TYPICAL: &str = "service: api\nversion: \"1.10\"\nmaintainer: team@example.com\n\
        domain: api.qa.example.com # public name\nport: 8080\n\
        healthcheck:\n  endpoints: [\"/healthz\", /ready]\n  retries: 5\n  interval: 5s\n  timeout: 2s\n\
        resources: { cpu: 500m, memory: 512Mi }\nports: [8080, 9090]\n\
        firewall: { ingress: [\"10.0.0.0/8\"] }\n\
        notify: { email: [\"a@example.com\"], slack: ['#api', 'it''s'] }\n";

    #[test]
    fn typical_descriptors_take_the_fast_path_and_agree() {
        assert!(agrees(TYPICAL));
        let block = "# header\nservice: api\nversion: 1.10\nmaintainer: team@example.com\n\n\
            healthcheck:\n    endpoints:\n    - /healthz\n    -   \"/ready\"\n    retries: 0\n    timeout: 1m\n\
            resources:\n  cpu: 0.5\n  memory: 1Gi\nports:\n- 80\n- 443\nnotify:\n  email: []\n";
        assert!(agrees(block));
        assert_eq!(parse::<Descriptor>(block).unwrap().version, "1.10");
        // A `String` field keeps a plain number's text; an empty value is null.
        assert!(agrees(
            "service: api\nversion: 2\nmaintainer: m@x\ndomain:\nresources: { cpu: 2 }\n"
        ));
    }

    #[test]
    fn gives_up_on_everything_outside_the_subset() {
        let cases = [
            "service: &a api\nversion: \"1\"\nmaintainer: m@x\n",
            "service: *a\n",
            "service: !t api\n",
            "service: api\nversion: \"1\"\nmaintainer: m@x\n---\nservice: b\n",
            "service: api\nservice: api\nversion: \"1\"\nmaintainer: m@x\n",
            "service: api\nversion: \"1\"\nmaintainer: |\n  m@x\n",
            "service: api\nversion: \"1\"\nmaintainer: m\n  @x\n",
            "service: api\nversion: \"1\\t\"\nmaintainer: m@x\n",
            "service: api\nversion: \"1\"\nmaintainer: m@x\nports: [\n  80]\n",
            "service: api\nversion: \"1\"\nmaintainer: m@x\nport: 0x50\n",
            "service: api\nversion: \"1\"\nmaintainer: m@x\nport: 080\n",
            "service: api\nversion: \"1\"\nmaintainer: m@x\nport: \"80\"\n",
            "service: api\r\nversion: \"1\"\r\nmaintainer: m@x\r\n",
            "service: api\nversion: \"1\"\nmaintainer: m\u{2028}@x\n",
            "service:\tapi\nversion: \"1\"\nmaintainer: m@x\n",
            "service: api\nversion: \"1\"\nmaintainer: m@x\nextra: 1\n",
            "service: a: b\nversion: \"1\"\nmaintainer: m@x\n",
            "service: api\nversion: \"1\"\nmaintainer: m@x\nresources: { cpu: 1, cpu: 2 }\n",
            "service: api\nversion: \"1\"\nmaintainer: m@x\nports: [80,]\n",
            "? service\n: api\n",
            "service: api\nversion: \"1\"\nmaintainer: m@x\ntrue: 1\n",
        ];
        for c in cases {
            assert!(parse::<Descriptor>(c).is_none(), "should give up on {c:?}");
        }
    }

    #[test]
    fn deep_nesting_is_left_to_serde_yaml() {
        let mut text = String::new();
        for i in 0..60 {
            text.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
        }
        text.push_str(&format!("{}v: 1\n", " ".repeat(60)));
        assert!(read(&text).is_none());
        assert!(read("a:\n b:\n  c: 1\n").is_some());
    }

    #[test]
    fn scalars_resolve_as_serde_yaml_resolves_them() {
        #[derive(Debug, PartialEq, serde::Deserialize)]
        struct Any {
            v: serde_yaml::Value,
        }
        for v in [
            "1",
            "0",
            "1.5",
            "10.25",
            "true",
            "False",
            "null",
            "~",
            "",
            "abc",
            "\"1\"",
            "'true'",
            "[1, a, \"b\"]",
            "{ a: 1 }",
            "/x y",
            "inf",
            "nan",
            "yes",
            "1.0.0",
        ] {
            let text = format!("v: {v}\n");
            if let Some(fast) = parse::<Any>(&text) {
                assert_eq!(slow::<Any>(&text), Some(fast), "{text:?}");
            }
        }
    }

    mod differential {
        use super::*;
        use proptest::prelude::*;

        const SCALARS: &[&str] = &[
            "1",
            "0",
            "007",
            "1.5",
            "1.",
            ".5",
            "1e3",
            "0x1F",
            "0o7",
            "+1",
            "-1",
            "true",
            "TRUE",
            "yes",
            "~",
            "null",
            "",
            "\"\"",
            "''",
            "'a''b'",
            "\"a\\\"b\"",
            "\"a\\tb\"",
            "a b",
            "a:b",
            "a: b",
            "a:",
            "#x",
            "a #c",
            "a#c",
            "/p/q",
            ".inf",
            "inf",
            "nan",
            "&a x",
            "*a",
            "!t x",
            "|",
            ">",
            "[1",
            "{",
            "x,y",
            "[]",
            "{}",
            "[a, 'b', 1]",
            "[a,b]",
            "[ [1], 2 ]",
            "{ k: v, n: 1 }",
            "{k: v}",
            "{ k: [1, 2] }",
            "{ k: }",
            "[a, ]",
            "500m",
            "512Mi",
            "5s",
            "1.10",
            "10.0.0.0/8",
            "-",
            "- a",
            "? a",
            "@x",
            "`x`",
            "%x",
            "\"unterminated",
            "'x' y",
            "\"x\" # c",
            "99999999999999999999",
        ];
        const KEYS: &[&str] = &[
            "a", "b", "c", "a-b", "x_1", "\"q\"", "1", "-", "k k", "true", "True", "null",
        ];

        fn line() -> impl Strategy<Value = String> {
            (
                0usize..3,
                0usize..7,
                prop::sample::select(KEYS),
                prop::sample::select(SCALARS),
            )
                .prop_map(|(depth, shape, k, v)| {
                    let pad = "  ".repeat(depth);
                    match shape {
                        0 => format!("{pad}{k}:"),
                        1 | 2 => format!("{pad}{k}: {v}"),
                        3 => format!("{pad}- {v}"),
                        4 => format!("{pad}-"),
                        5 => format!("{pad}# {v}"),
                        _ => String::new(),
                    }
                })
        }

        /// The property above means little if the fast path always gives up on it.
        #[test]
        fn the_generator_reaches_the_fast_path() {
            use proptest::strategy::ValueTree;
            let mut runner = proptest::test_runner::TestRunner::deterministic();
            let texts = prop::collection::vec(line(), 1..8);
            let answered = (0..1000)
                .filter(|_| {
                    let lines = texts.new_tree(&mut runner).unwrap().current();
                    parse::<serde_yaml::Value>(&(lines.join("\n") + "\n")).is_some()
                })
                .count();
            assert!(
                answered > 50,
                "only {answered} of 1000 texts took the fast path"
            );
        }
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]
            /// Whenever the fast path answers, serde_yaml gives the same value.
            #[test]
            fn fast_path_agrees_with_serde_yaml(lines in prop::collection::vec(line(), 1..8)) {
                let text = lines.join("\n") + "\n";
                if let Some(fast) = parse::<serde_yaml::Value>(&text) {
                    let slow = serde_yaml::from_str::<serde_yaml::Value>(&text);
                    prop_assert_eq!(slow.ok(), Some(fast), "{}", text);
                }
            }
        }
    }
}
