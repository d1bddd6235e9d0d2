//! A stage's parameters. Every stage of one service carries the same service parameters (a
//! push of 5,000 services has 10,000 or more stages), so those are built once per service and
//! shared; only the few a stage has of its own (`ACTION`) are kept per stage. Read, compared
//! and serialised, it is one sorted map, as `plan.json` has always shown it.
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct Parameters {
    shared: Arc<BTreeMap<String, String>>,
    /// Wins over `shared` for the same name.
    own: BTreeMap<String, String>,
}

impl Parameters {
    pub fn shared(map: Arc<BTreeMap<String, String>>) -> Parameters {
        Parameters {
            shared: map,
            own: BTreeMap::new(),
        }
    }

    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.own.insert(name.into(), value.into());
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.own
            .get(name)
            .or_else(|| self.shared.get(name))
            .map(String::as_str)
    }

    /// In name order, each name once.
    pub fn iter(&self) -> Merged<'_> {
        Merged {
            shared: self.shared.iter().peekable(),
            own: self.own.iter().peekable(),
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
            shared: Arc::default(),
            own,
        }
    }
}

type Entries<'a> = std::iter::Peekable<std::collections::btree_map::Iter<'a, String, String>>;

/// The two sorted maps merged, `own` shadowing `shared`.
pub struct Merged<'a> {
    shared: Entries<'a>,
    own: Entries<'a>,
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
        let (k, v) = match order {
            Less => self.shared.next()?,
            Greater => self.own.next()?,
            Equal => {
                self.shared.next();
                self.own.next()?
            }
        };
        Some((k.as_str(), v.as_str()))
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
        let shared = Arc::new(map(&[("B", "shared-b"), ("D", "d"), ("F", "f")]));
        let mut p = Parameters::shared(shared.clone());
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
        assert_eq!(p.get("D"), Some("own-d"));
        assert_eq!(p.get("F"), Some("f"));
        assert_eq!(p.get("Z"), None);
        // The shared map is not changed by a stage's own values.
        assert_eq!(shared.get("D").map(String::as_str), Some("d"));
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
        let mut p = Parameters::shared(Arc::new(map(&[("VERSION", "1.2.0"), ("SERVICE", "api")])));
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
