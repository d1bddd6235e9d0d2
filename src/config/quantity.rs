//! Kubernetes quantities (`500m`, `2`, `0.5`, `512Mi`, `1G`), compared by value so that
//! `1000m` equals `1`, and kept with their original spelling for people.
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

use super::error::ValueError;

/// A quantity in thousandths of its base unit (millicores for cpu, milli-bytes for memory),
/// so every Kubernetes suffix is exact in integers.
#[derive(Clone, Debug, Eq)]
pub struct Quantity {
    milli: u128,
    raw: String,
}

const SUFFIXES: &[(&str, u128)] = &[
    ("Ki", 1 << 10),
    ("Mi", 1 << 20),
    ("Gi", 1 << 30),
    ("Ti", 1 << 40),
    ("Pi", 1 << 50),
    ("Ei", 1 << 60),
    ("k", 1_000),
    ("M", 1_000_000),
    ("G", 1_000_000_000),
    ("T", 1_000_000_000_000),
    ("P", 1_000_000_000_000_000),
    ("E", 1_000_000_000_000_000_000),
];

pub const VALID_FORMS: &str =
    "a number with an optional suffix: m (thousandths), k M G T P E, or Ki Mi Gi Ti Pi Ei (e.g. 500m, 2, 0.5, 512Mi, 1G)";

impl Quantity {
    pub fn parse(s: &str) -> Result<Quantity, ValueError> {
        let t = s.trim();
        let bad = || ValueError::NotAQuantity(s.to_string());
        let (number, scale_milli): (&str, u128) = if let Some(n) = t.strip_suffix('m') {
            (n, 1)
        } else if let Some((suffix, mult)) = SUFFIXES.iter().find(|(suf, _)| t.ends_with(suf)) {
            (&t[..t.len() - suffix.len()], mult * 1000)
        } else {
            (t, 1000)
        };
        if number.is_empty() || number.starts_with('-') || number.starts_with('+') {
            return Err(bad());
        }
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > 9
        {
            return Err(bad());
        }
        let int_v: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        let frac_v: u128 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| bad())?
        };
        let denom = 10u128.pow(frac.len() as u32);
        let total = int_v
            .checked_mul(scale_milli)
            .and_then(|a| a.checked_add(frac_v * scale_milli / denom))
            .ok_or_else(|| ValueError::TooLarge(s.to_string()))?;
        if (frac_v * scale_milli) % denom != 0 {
            return Err(ValueError::TooFine(s.to_string()));
        }
        Ok(Quantity {
            milli: total,
            raw: t.to_string(),
        })
    }

    pub fn from_milli(milli: u128) -> Quantity {
        let raw = if milli % 1000 == 0 {
            (milli / 1000).to_string()
        } else {
            format!("{milli}m")
        };
        Quantity { milli, raw }
    }

    /// Thousandths of the base unit.
    pub fn milli(&self) -> u128 {
        self.milli
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// A canonical spelling, equal for equal quantities (`1000m` and `1` both give `1`).
    pub fn canonical(&self) -> String {
        Quantity::from_milli(self.milli).raw
    }

    /// Memory-style rendering with binary suffixes, for messages about sums.
    pub fn human_bytes(&self) -> String {
        let bytes = self.milli / 1000;
        for (suf, mult) in SUFFIXES[..6].iter().rev() {
            if bytes >= *mult && bytes % (mult / 8).max(1) == 0 {
                let whole = bytes / mult;
                let rem = (bytes % mult) * 10 / mult;
                return if rem == 0 {
                    format!("{whole}{suf}")
                } else {
                    format!("{whole}.{rem}{suf}")
                };
            }
        }
        self.canonical()
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.milli == other.milli
    }
}
impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.milli.cmp(&other.milli)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(VALID_FORMS)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                Quantity::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                Quantity::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                Quantity::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                Quantity::parse(&v.to_string()).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Kubernetes quantity: 500m, 2, 0.5, 512Mi, 1G",
            "anyOf": [
                { "type": "string", "pattern": "^([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$" },
                { "type": "number", "minimum": 0 }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_by_value() {
        let q = |s| Quantity::parse(s).unwrap();
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("0.5"), q("500m"));
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("1G"), q("1000M"));
        assert!(q("1Gi") > q("1G"));
        assert_eq!(q("512Mi").milli(), 512 * 1024 * 1024 * 1000);
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert_eq!(q("1500m").canonical(), "1500m");
        assert_eq!(q("2000m").canonical(), "2");
    }

    #[test]
    fn rejects_everything_else_with_the_valid_forms() {
        for bad in [
            "", "m", "-1", "1.2.3", "5 cores", "1mi", "1GB", "0.0001", "abc", "1e3",
        ] {
            let e = Quantity::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad) || bad.is_empty(), "{bad}: {e}");
        }
    }

    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(Quantity::parse("64Gi").unwrap().human_bytes(), "64Gi");
        assert_eq!(Quantity::parse("1536Mi").unwrap().human_bytes(), "1.5Gi");
    }
}
