//! Durations as policies and descriptors write them: `500ms`, `5s`, `2m`, `1h`, `1m30s`.
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

use super::error::ValueError;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration {
    value: std::time::Duration,
    raw: String,
}

pub const VALID_UNITS: &str =
    "valid units are ms, s, m, h and d (e.g. 500ms, 5s, 2m, 1h, 1m30s, 2d)";

impl Duration {
    pub fn parse(s: &str) -> Result<Duration, ValueError> {
        let t = s.trim();
        let bad = || ValueError::NotADuration(s.to_string());
        if t.is_empty() {
            return Err(bad());
        }
        let mut total: u128 = 0;
        let mut rest = t;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return Err(bad());
            }
            let n: u128 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
            let ms = match &rest[..unit_len] {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                // Days of 24 hours, elapsed time: soak times and freeze windows are days long.
                "d" => 86_400_000,
                _ => return Err(bad()),
            };
            rest = &rest[unit_len..];
            total = total
                .checked_add(n.checked_mul(ms).ok_or_else(bad)?)
                .ok_or_else(bad)?;
        }
        let ms = u64::try_from(total).map_err(|_| bad())?;
        Ok(Duration {
            value: std::time::Duration::from_millis(ms),
            raw: t.to_string(),
        })
    }

    pub fn from_std(d: std::time::Duration) -> Duration {
        let ms = d.as_millis();
        let raw = if ms % 1000 == 0 {
            format!("{}s", ms / 1000)
        } else {
            format!("{ms}ms")
        };
        Duration { value: d, raw }
    }

    pub fn std(&self) -> std::time::Duration {
        self.value
    }

    pub fn is_zero(&self) -> bool {
        self.value.is_zero()
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a duration; {VALID_UNITS}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                Err(E::custom(format!("`{v}` has no unit: {VALID_UNITS}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                self.visit_u64(v.unsigned_abs())
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "duration: 500ms, 5s, 2m, 1h, 1m30s",
            "pattern": "^([0-9]+(ms|s|m|h|d))+$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_units_and_sums() {
        let d = |s| Duration::parse(s).unwrap().std().as_millis();
        assert_eq!(d("5s"), 5000);
        assert_eq!(d("2m"), 120_000);
        assert_eq!(d("1h"), 3_600_000);
        assert_eq!(d("500ms"), 500);
        assert_eq!(d("1m30s"), 90_000);
        assert_eq!(d("0s"), 0);
        assert_eq!(d("2d12h"), 216_000_000);
    }
    #[test]
    fn rejects_the_rest_naming_valid_units() {
        for bad in ["", "5", "5 s", "5sec", "-1s", "1.5s", "s", "5w", "5D"] {
            assert!(
                Duration::parse(bad)
                    .unwrap_err()
                    .to_string()
                    .contains("valid units"),
                "{bad}"
            );
        }
    }
}
