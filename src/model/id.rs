//! Git object ids as plain values, so the stages past `repo::` name commits without its Git
//! library. `repo::` converts them at its boundary.
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Text that is not 40 hexadecimal digits, so names no object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId(pub String);

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a 40-digit hexadecimal object id", self.0)
    }
}

impl std::error::Error for InvalidId {}

/// Both id types share their text form: 40 lower-case hex digits, as git prints them and as
/// plans, notes and reports have always stored them. Padded through `Formatter::pad`, so
/// `{:.7}` gives the short form.
macro_rules! object_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 20]);

        impl $name {
            pub const fn from_bytes(bytes: [u8; 20]) -> Self {
                $name(bytes)
            }
            pub const fn as_bytes(&self) -> &[u8; 20] {
                &self.0
            }
            /// The first seven hex digits, as people quote commits.
            pub fn short(&self) -> String {
                format!("{self:.7}")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let mut text = [0u8; 40];
                for (i, b) in self.0.iter().enumerate() {
                    text[2 * i] = HEX[usize::from(b >> 4)];
                    text[2 * i + 1] = HEX[usize::from(b & 0xf)];
                }
                // Only ASCII hex digits were written.
                f.pad(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            /// Exactly 40 hex digits: a shorter prefix is a revision for `repo::` to resolve.
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                let digits = s.as_bytes();
                if digits.len() != 40 {
                    return Err(InvalidId(s.to_string()));
                }
                let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
                let mut bytes = [0u8; 20];
                for (i, pair) in digits.chunks_exact(2).enumerate() {
                    match (nibble(pair[0]), nibble(pair[1])) {
                        (Some(hi), Some(lo)) => bytes[i] = hi << 4 | lo,
                        _ => return Err(InvalidId(s.to_string())),
                    }
                }
                Ok($name(bytes))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<str>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

object_id! {
    /// A commit.
    CommitId
}

object_id! {
    /// What a commit's tree holds at a path: a file's blob or a folder's tree. Kept apart
    /// from `CommitId` so a blob is never walked as a commit, nor a commit read as a file.
    EntryId
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn text_round_trips_as_git_prints_it() {
        let id: CommitId = SHA.parse().unwrap();
        assert_eq!(id.to_string(), SHA);
        assert_eq!(format!("{id:.7}"), "0123456");
        assert_eq!(id.short(), "0123456");
        assert_eq!(SHA.to_uppercase().parse::<CommitId>(), Ok(id));
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{SHA}\""));
        let back: CommitId = serde_json::from_str(&format!("\"{SHA}\"")).unwrap();
        assert_eq!(back, id);
    }

    #[test]
    fn only_full_ids_parse() {
        for bad in [
            "",
            "0123456",
            &SHA[1..],
            &format!("{SHA}0"),
            &SHA.replace('a', "g"),
        ] {
            assert!(bad.parse::<CommitId>().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<EntryId>("\"HEAD\"").is_err());
    }
}
