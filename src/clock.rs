//! The evaluation time: the clock, or `--now` outside CI. Rules that depend on time (freeze
//! windows, soak) read it from here, never from the system clock themselves, so a test
//! states the time it judges at.
use chrono::{DateTime, SecondsFormat, Utc};

/// When the push is judged, and whether a person chose that time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub now: DateTime<Utc>,
    /// Given with `--now` instead of read from the system clock; the plan says so.
    pub from_flag: bool,
}

/// A `--now` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NowError {
    #[error("--now `{value}` is not an RFC 3339 time (e.g. 2026-03-27T16:30:00+01:00 or 2026-03-27T15:30:00Z)")]
    Parse {
        value: String,
        #[source]
        source: chrono::ParseError,
    },
}

impl Clock {
    /// The system clock, to the second.
    pub fn system() -> Clock {
        let now = Utc::now();
        Clock {
            now: DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now),
            from_flag: false,
        }
    }

    /// `--now VALUE`.
    pub fn from_flag(value: &str) -> Result<Clock, NowError> {
        let now = DateTime::parse_from_rfc3339(value.trim())
            .map_err(|source| NowError::Parse {
                value: value.to_string(),
                source,
            })?
            .with_timezone(&Utc);
        Ok(Clock {
            now,
            from_flag: true,
        })
    }

    /// RFC 3339 in UTC, as plans and records write times.
    pub fn rfc3339(&self) -> String {
        self.now.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_takes_any_offset_and_is_kept_in_utc() {
        let c = Clock::from_flag("2026-03-27T16:30:00+01:00").unwrap();
        assert_eq!(c.rfc3339(), "2026-03-27T15:30:00Z");
        assert!(c.from_flag);
        let e = Clock::from_flag("friday 16:30").unwrap_err();
        assert!(e.to_string().contains("is not an RFC 3339 time"), "{e}");
        assert!(std::error::Error::source(&e).is_some());
        assert!(!Clock::system().from_flag);
    }
}
