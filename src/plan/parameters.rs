//! A stage's parameters. Every stage of one service carries the same service parameters (a
//! push of 5,000 services has 10,000 or more stages), so those are built once per service,
//! named by constants, and shared; only the few a stage has of its own (`ACTION`) are kept
//! per stage. Read, compared and serialised, it is one sorted map, as `plan.json` has always
//! shown it.
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Parameters shared by a service's stages, sorted by name.
type Shared = Arc<[(&'static str, String)]>;

#[derive(Debug, Clone)]
pub struct Parameters {
    shared: Shared,
    /// Sorted by name; wins over `shared` for the same name.
    own: Vec<(Cow<'static, str>, String)>,
}

impl Default for Parameters {
    fn default() -> Parameters {
        Parameters::shared(Vec::new())
    }
}

impl Parameters {
    /// `entries` in any order; the last of a repeated name wins.
    pub fn shared(mut entries: Vec<(&'static str, String)>) -> Parameters {
        entries.reverse();
        entries.sort_by_key(|(k, _)| *k);
        entries.dedup_by_key(|(k, _)| *k);
        Parameters {
            shared: entries.into(),
            own: Vec::new(),
        }
    }

    /// Another stage's parameters over the same shared ones, without its own.
    pub fn sharing(&self) -> Parameters {
        Parameters {
            shared: self.shared.clone(),
            own: Vec::new(),
        }
    }

    pub fn insert(&mut self, name: impl Into<Cow<'static, str>>, value: impl Into<String>) {
        let name = name.into();
        match self
            .own
            .binary_search_by(|(k, _)| k.as_ref().cmp(name.as_ref()))
        {
            Ok(i) => self.own[i].1 = value.into(),
            Err(i) => self.own.insert(i, (name, value.into())),
        }
    }

    /// In name order, each name once.
    pub fn iter(&self) -> Merged<'_> {
        fn shared<'a>((k, v): &'a (&'static str, String)) -> (&'a str, &'a str) {
            (k, v)
        }
        fn own<'a>((k, v): &'a (Cow<'static, str>, String)) -> (&'a str, &'a str) {
            (k, v)
        }
        Merged {
            shared: self.shared.iter().map(shared as _).peekable(),
            own: self.own.iter().map(own as _).peekable(),
        }
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.shared.is_empty() && self.own.is_empty()
    }

    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

impl From<BTreeMap<String, String>> for Parameters {
    fn from(own: BTreeMap<String, String>) -> Parameters {
        Parameters {
            shared: Parameters::default().shared,
            own: own.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect(),
        }
    }
}

type SharedIter<'a> = std::iter::Map<
    std::slice::Iter<'a, (&'static str, String)>,
    fn(&'a (&'static str, String)) -> (&'a str, &'a str),
>;
type OwnIter<'a> = std::iter::Map<
    std::slice::Iter<'a, (Cow<'static, str>, String)>,
    fn(&'a (Cow<'static, str>, String)) -> (&'a str, &'a str),
>;

/// The two sorted lists merged, `own` shadowing `shared`.
pub struct Merged<'a> {
    shared: std::iter::Peekable<SharedIter<'a>>,
    own: std::iter::Peekable<OwnIter<'a>>,
}

impl<'a> Iterator for Merged<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<Self::Item> {
        use std::cmp::Ordering::*;
        let order = match (self.shared.peek(), self.own.peek()) {
            (None, None) => return None,
            (Some(_), None) => Less,
            (None, Some(_)) => Greater,
            (Some((s, _)), Some((o, _))) => s.cmp(o),
        };
        match order {
            Less => self.shared.next(),
            Greater => self.own.next(),
            Equal => {
                self.shared.next();
                self.own.next()
            }
        }
    }
}

impl<'a> IntoIterator for &'a Parameters {
    type Item = (&'a str, &'a str);
    type IntoIter = Merged<'a>;
    fn into_iter(self) -> Merged<'a> {
        self.iter()
    }
}

impl PartialEq for Parameters {
    fn eq(&self, other: &Parameters) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Serialize for Parameters {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Parameters {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Parameters, D::Error> {
        BTreeMap::deserialize(d).map(Parameters::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_as_one_sorted_map_with_own_values_winning() {
        let mut p = Parameters::shared(vec![
            ("F", "f".into()),
            ("D", "d".into()),
            ("B", "old-b".into()),
            ("B", "shared-b".into()),
        ]);
        let sibling = p.sharing();
        p.insert("A", "a");
        p.insert("D", "own-d");
        p.insert("G", "g");
        let all: Vec<(&str, &str)> = p.iter().collect();
        assert_eq!(
            all,
            [
                ("A", "a"),
                ("B", "shared-b"),
                ("D", "own-d"),
                ("F", "f"),
                ("G", "g")
            ]
        );
        assert_eq!(p.len(), 5);
        // The shared values are not changed by a stage's own.
        assert_eq!(
            sibling.to_map(),
            map(&[("B", "shared-b"), ("D", "d"), ("F", "f")])
        );
        assert_eq!(
            p.to_map(),
            map(&[
                ("A", "a"),
                ("B", "shared-b"),
                ("D", "own-d"),
                ("F", "f"),
                ("G", "g")
            ])
        );
    }

    #[test]
    fn serialises_and_compares_as_the_merged_map() {
        let mut p =
            Parameters::shared(vec![("VERSION", "1.2.0".into()), ("SERVICE", "api".into())]);
        p.insert("ACTION", "deploy");
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"ACTION":"deploy","SERVICE":"api","VERSION":"1.2.0"}"#
        );
        let back: Parameters = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        let mut other = back.clone();
        other.insert("VERSION", "1.3.0");
        assert_ne!(other, p);
        assert!(Parameters::default().is_empty());
        assert!(!p.is_empty());
    }
}
