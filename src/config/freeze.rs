//! `gates.freeze`: windows in which nothing deploys, each a cron start in a named time zone
//! and a duration, and the maths of when one is in force.
//!
//! A window is active at `now` when its latest start at or before `now` (read in its time
//! zone, so `0 16 * * FRI` in `Europe/Berlin` is 15:00 UTC in winter and 14:00 UTC in
//! summer) is less than `duration` ago. The duration is elapsed time: a 64h window that
//! spans a DST change ends 64 real hours after it started, an hour earlier or later on the
//! wall clock. A start the clock skips (02:30 on the night clocks go forward) happens at
//! the first instant after the gap; a start the clock repeats happens once, at its first
//! occurrence (croner's rules). Occurrences that overlap or touch are one freeze: its end
//! is the last of their ends.
use super::Duration;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// What can go wrong reading or evaluating a freeze window.
#[derive(Debug, thiserror::Error)]
pub enum FreezeError {
    #[error("`{pattern}` is not a cron pattern of five fields (minute hour day-of-month month day-of-week, e.g. \"0 16 * * FRI\"){}", culprit.as_ref().map(|c| format!("; its {c} is wrong")).unwrap_or_default())]
    Pattern {
        pattern: String,
        /// The one field that, put back to `*`, makes the pattern parse.
        culprit: Option<String>,
        #[source]
        source: CronError,
    },
    #[error("`{pattern}` never matches a date")]
    NeverMatches {
        pattern: String,
        #[source]
        source: CronError,
    },
    #[error("`{0}` is not an IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC)")]
    TimeZone(String),
    #[error("cannot work out when `{pattern}` ({zone}) starts around {at}")]
    Search {
        pattern: String,
        zone: String,
        at: DateTime<Utc>,
        #[source]
        source: CronError,
    },
}

impl FreezeError {
    /// The message with its cause, for errors that reach a person as one line (serde's
    /// `custom` keeps only a `Display`).
    pub fn with_cause(&self) -> String {
        match std::error::Error::source(self) {
            Some(cause) => format!("{self}: {cause}"),
            None => self.to_string(),
        }
    }
}

/// A five-field POSIX cron pattern (`minute hour day-of-month month day-of-week`, names
/// `MON`/`JAN` allowed, `@weekly` and the other nicknames too), as written.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    cron: Cron,
    raw: String,
}

impl CronSchedule {
    pub fn parse(s: &str) -> Result<CronSchedule, FreezeError> {
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        let cron = parser.parse(s).map_err(|source| FreezeError::Pattern {
            pattern: s.to_string(),
            culprit: culprit(&parser, s),
            source,
        })?;
        // A pattern that never matches (`0 0 30 2 *`) would make every window silently
        // inactive: refuse it with the policy.
        let probe = DateTime::<Utc>::from_timestamp(946_684_800, 0).unwrap_or_default();
        cron.find_next_occurrence(&probe, true)
            .map_err(|source| FreezeError::NeverMatches {
                pattern: s.to_string(),
                source,
            })?;
        Ok(CronSchedule {
            cron,
            raw: s.to_string(),
        })
    }
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

/// Which of five fields is wrong: the one that, alone put back to `*`, makes the pattern
/// parse (croner's own errors do not say which).
fn culprit(parser: &CronParser, s: &str) -> Option<String> {
    const NAMES: [&str; 5] = ["minute", "hour", "day of month", "month", "day of week"];
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return None;
    }
    (0..5)
        .find(|&i| {
            let mut f = fields.clone();
            f[i] = "*";
            parser.parse(&f.join(" ")).is_ok()
        })
        .map(|i| format!("{} field `{}`", NAMES[i], fields[i]))
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for CronSchedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for CronSchedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CronSchedule::parse(&s).map_err(|e| de::Error::custom(e.with_cause()))
    }
}

impl JsonSchema for CronSchedule {
    fn schema_name() -> Cow<'static, str> {
        "CronSchedule".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "five-field cron pattern: minute hour day-of-month month day-of-week (e.g. \"0 16 * * FRI\"), or @daily, @weekly, @monthly, @yearly",
            "pattern": "^\\s*(@(yearly|annually|monthly|weekly|daily|hourly)|\\S+(\\s+\\S+){4})\\s*$",
            "examples": ["0 16 * * FRI", "0 0 24 12 *"]
        })
    }
}

/// An IANA time zone name (`Europe/Berlin`, `UTC`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeZoneName(pub Tz);

impl TimeZoneName {
    pub fn parse(s: &str) -> Result<TimeZoneName, FreezeError> {
        s.parse::<Tz>()
            .map(TimeZoneName)
            .map_err(|_| FreezeError::TimeZone(s.to_string()))
    }
}

impl fmt::Display for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

impl Serialize for TimeZoneName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

impl<'de> Deserialize<'de> for TimeZoneName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TimeZoneName::parse(&s).map_err(|e| de::Error::custom(e.with_cause()))
    }
}

impl JsonSchema for TimeZoneName {
    fn schema_name() -> Cow<'static, str> {
        "TimeZoneName".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "IANA time zone name, e.g. Europe/Berlin, America/New_York, UTC",
            "minLength": 1,
            "examples": ["Europe/Berlin", "UTC"]
        })
    }
}

/// One freeze window of `gates.freeze`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeWindow {
    /// When each window starts, in `timezone`: minute hour day-of-month month day-of-week,
    /// e.g. `0 16 * * FRI` for Fridays at 16:00.
    pub cron: CronSchedule,
    /// How long each window lasts, as elapsed time (e.g. `64h`).
    pub duration: Duration,
    /// The IANA time zone the pattern is read in (e.g. `Europe/Berlin`).
    pub timezone: TimeZoneName,
    /// Only these environments (default: every environment these gates apply to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<String>>,
    /// Why: every rejection quotes it.
    pub reason: String,
}

/// One occurrence of a window, in the window's time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    pub start: DateTime<Tz>,
    pub end: DateTime<Tz>,
    /// Later occurrences kept overlapping past `MAX_CHAIN`: the freeze lasts at least
    /// until `end`.
    pub open_ended: bool,
}

/// How many overlapping occurrences are followed to find where a freeze ends.
const MAX_CHAIN: usize = 1000;

impl FreezeWindow {
    /// Whether the window covers `env`.
    pub fn applies_to(&self, env: &str) -> bool {
        self.environments
            .as_ref()
            .is_none_or(|list| list.iter().any(|e| e == env))
    }

    /// At most `LONGEST` (validation refuses longer), so date arithmetic cannot overflow.
    fn length(&self) -> chrono::Duration {
        span(&self.duration)
    }

    fn search(&self, at: DateTime<Utc>) -> impl Fn(CronError) -> FreezeError + '_ {
        move |source| FreezeError::Search {
            pattern: self.cron.raw.clone(),
            zone: self.timezone.to_string(),
            at,
            source,
        }
    }

    /// The occurrence in force at `now`, if any: its latest start at or before `now`, when
    /// `now` is before its end.
    pub fn active_at(&self, now: DateTime<Utc>) -> Result<Option<Occurrence>, FreezeError> {
        let local = now.with_timezone(&self.timezone.0);
        let start = self
            .cron
            .cron
            .find_previous_occurrence(&local, true)
            .map_err(self.search(now))?;
        let length = self.length();
        let mut end = start + length;
        if local >= end {
            return Ok(None);
        }
        let mut cursor = start;
        for _ in 0..MAX_CHAIN {
            let next = self
                .cron
                .cron
                .find_next_occurrence(&cursor, false)
                .map_err(self.search(now))?;
            if next > end {
                return Ok(Some(Occurrence {
                    start,
                    end,
                    open_ended: false,
                }));
            }
            end = end.max(next + length);
            cursor = next;
        }
        Ok(Some(Occurrence {
            start,
            end,
            open_ended: true,
        }))
    }

    /// The first start after `now`.
    pub fn next_start(&self, now: DateTime<Utc>) -> Result<DateTime<Tz>, FreezeError> {
        let local = now.with_timezone(&self.timezone.0);
        self.cron
            .cron
            .find_next_occurrence(&local, false)
            .map_err(self.search(now))
    }
}

/// A time as people read it: weekday, date and time in its own zone, then in UTC.
/// `Fri 2026-03-27 16:00 CET (15:00 UTC)`; the UTC date is given when it differs.
pub fn show(t: &DateTime<Tz>) -> String {
    let local = t.format("%a %Y-%m-%d %H:%M %Z").to_string();
    if t.timezone() == Tz::UTC || t.timezone() == Tz::Etc__UTC {
        return local;
    }
    let utc = t.with_timezone(&Utc);
    if utc.date_naive() == t.date_naive() {
        format!("{local} ({} UTC)", utc.format("%H:%M"))
    } else {
        format!("{local} ({} UTC)", utc.format("%Y-%m-%d %H:%M"))
    }
}

/// The longest freeze window or soak time a policy may state: a year and a day. Longer is a
/// typo (`9999999999h`), and it would push the dates it ends at past what a date holds.
pub const LONGEST: std::time::Duration = std::time::Duration::from_secs(366 * 24 * 3600);

/// A policy duration as a span of time to add to dates, capped at `LONGEST`.
pub fn span(d: &Duration) -> chrono::Duration {
    chrono::Duration::from_std(d.std().min(LONGEST)).unwrap_or(chrono::Duration::zero())
}

/// `gates.freeze` problems types cannot catch, as (field path, message, hint).
pub(crate) fn errors(
    windows: &[FreezeWindow],
    at: &str,
    environments: &[&str],
) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        let here = format!("{at}.freeze[{i}]");
        if w.duration.is_zero() {
            out.push((
                format!("{here}.duration"),
                "a freeze window of 0s never holds".to_string(),
                "give its length, e.g. 64h".to_string(),
            ));
        }
        if w.duration.std() > LONGEST {
            out.push((
                format!("{here}.duration"),
                format!("{} is longer than a year and a day (8784h)", w.duration),
                "give the window's length, e.g. 64h; a standing freeze is a window each week"
                    .to_string(),
            ));
        }
        if w.reason.trim().is_empty() {
            out.push((
                format!("{here}.reason"),
                "the reason is empty".to_string(),
                "say why, e.g. \"weekend freeze\": every rejection quotes it".to_string(),
            ));
        }
        for (k, e) in w.environments.iter().flatten().enumerate() {
            if !environments.contains(&e.as_str()) {
                out.push((
                    format!("{here}.environments[{k}]"),
                    format!("`{e}` is not an environment"),
                    format!("valid environments: {}", environments.join(", ")),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn window(cron: &str, duration: &str, tz: &str) -> FreezeWindow {
        FreezeWindow {
            cron: CronSchedule::parse(cron).unwrap(),
            duration: Duration::parse(duration).unwrap(),
            timezone: TimeZoneName::parse(tz).unwrap(),
            environments: None,
            reason: "test".into(),
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn iso(t: &DateTime<Tz>) -> String {
        t.to_rfc3339()
    }

    #[test]
    fn a_window_holds_from_its_start_up_to_but_not_at_its_end() {
        let w = window("0 16 * * FRI", "64h", "Europe/Berlin");
        // Friday 2026-01-09 16:00 CET is 15:00 UTC; 64h later is Monday 08:00 CET.
        assert_eq!(w.active_at(utc("2026-01-09T14:59:59Z")).unwrap(), None);
        let o = w.active_at(utc("2026-01-09T15:00:00Z")).unwrap().unwrap();
        assert_eq!(iso(&o.start), "2026-01-09T16:00:00+01:00");
        assert_eq!(iso(&o.end), "2026-01-12T08:00:00+01:00");
        assert!(!o.open_ended);
        assert!(w.active_at(utc("2026-01-12T06:59:59Z")).unwrap().is_some());
        assert_eq!(w.active_at(utc("2026-01-12T07:00:00Z")).unwrap(), None);
        assert_eq!(
            iso(&w.next_start(utc("2026-01-12T07:00:00Z")).unwrap()),
            "2026-01-16T16:00:00+01:00"
        );
    }

    #[test]
    fn the_start_follows_the_zone_across_daylight_saving_time() {
        let w = window("0 16 * * FRI", "1h", "Europe/Berlin");
        // Winter: 16:00 CET = 15:00 UTC. Summer: 16:00 CEST = 14:00 UTC.
        assert!(w.active_at(utc("2026-01-09T14:30:00Z")).unwrap().is_none());
        assert!(w.active_at(utc("2026-01-09T15:30:00Z")).unwrap().is_some());
        assert!(w.active_at(utc("2026-07-10T14:30:00Z")).unwrap().is_some());
        assert!(w.active_at(utc("2026-07-10T15:30:00Z")).unwrap().is_none());
    }

    #[test]
    fn a_duration_across_the_change_is_elapsed_time() {
        // Clocks go forward on Sunday 2026-03-29 (02:00 CET -> 03:00 CEST): 64 hours from
        // Friday 16:00 CET end on Monday at 09:00 CEST, 07:00 UTC.
        let w = window("0 16 * * FRI", "64h", "Europe/Berlin");
        let o = w.active_at(utc("2026-03-29T12:00:00Z")).unwrap().unwrap();
        assert_eq!(iso(&o.start), "2026-03-27T16:00:00+01:00");
        assert_eq!(iso(&o.end), "2026-03-30T09:00:00+02:00");
        assert_eq!(
            show(&o.end),
            "Mon 2026-03-30 09:00 CEST (07:00 UTC)",
            "the end in its zone and in UTC"
        );
        assert!(w.active_at(utc("2026-03-30T07:00:00Z")).unwrap().is_none());
        // And back: clocks go back on 2026-10-25, so the same window ends at 07:00 CET.
        let o = w.active_at(utc("2026-10-25T12:00:00Z")).unwrap().unwrap();
        assert_eq!(iso(&o.end), "2026-10-26T07:00:00+01:00");
    }

    #[test]
    fn a_start_inside_the_spring_gap_happens_just_after_it() {
        // 02:30 does not exist in Berlin on 2026-03-29; the window starts at 03:00 CEST.
        let w = window("30 2 * * *", "1h", "Europe/Berlin");
        let o = w.active_at(utc("2026-03-29T01:10:00Z")).unwrap().unwrap();
        assert_eq!(iso(&o.start), "2026-03-29T03:00:00+02:00");
        assert_eq!(iso(&o.end), "2026-03-29T04:00:00+02:00");
        // The day before, 02:30 CET as usual.
        let o = w.active_at(utc("2026-03-28T01:45:00Z")).unwrap().unwrap();
        assert_eq!(iso(&o.start), "2026-03-28T02:30:00+01:00");
    }

    #[test]
    fn overlapping_occurrences_are_one_freeze() {
        // Daily at 20:00 for 30h: each window starts before the last ends, so the end is
        // never reached and the freeze is reported as open-ended.
        let w = window("0 20 * * *", "30h", "UTC");
        let o = w.active_at(utc("2026-05-01T21:00:00Z")).unwrap().unwrap();
        assert!(o.open_ended);
        // Weekdays at 18:00 for 14h: Mon-Fri nights chain into one freeze only when the
        // next start touches the end; 18:00 + 14h = 08:00, next start 18:00: separate.
        let w = window("0 18 * * MON-FRI", "14h", "UTC");
        let o = w.active_at(utc("2026-05-04T19:00:00Z")).unwrap().unwrap();
        assert_eq!(iso(&o.end), "2026-05-05T08:00:00+00:00");
        // Touching windows (24h, daily) chain.
        let w = window("0 0 * * SAT,SUN", "24h", "UTC");
        let o = w.active_at(utc("2026-05-02T10:00:00Z")).unwrap().unwrap();
        assert_eq!(iso(&o.start), "2026-05-02T00:00:00+00:00");
        assert_eq!(iso(&o.end), "2026-05-04T00:00:00+00:00");
        assert_eq!(show(&o.end), "Mon 2026-05-04 00:00 UTC");
    }

    #[test]
    fn the_start_is_inclusive_and_the_zone_is_the_windows() {
        let w = window("0 9 24 12 *", "12h", "America/New_York");
        let at = chrono_tz::America::New_York
            .with_ymd_and_hms(2026, 12, 24, 9, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let o = w.active_at(at).unwrap().unwrap();
        assert_eq!(show(&o.start), "Thu 2026-12-24 09:00 EST (14:00 UTC)");
        assert_eq!(
            show(&o.end),
            "Thu 2026-12-24 21:00 EST (2026-12-25 02:00 UTC)"
        );
    }

    #[test]
    fn bad_patterns_and_zones_say_what_is_expected() {
        for bad in [
            "",
            "0 16 * *",
            "0 0 16 * * FRI",
            "61 * * * *",
            "0 16 * * FUNDAY",
        ] {
            let e = CronSchedule::parse(bad).unwrap_err();
            assert!(
                e.with_cause()
                    .contains("is not a cron pattern of five fields"),
                "{bad}: {}",
                e.with_cause()
            );
        }
        for (bad, field) in [
            ("61 * * * *", "minute field `61`"),
            ("0 25 * * FRI", "hour field `25`"),
            ("0 16 * * FRX", "day of week field `FRX`"),
        ] {
            let e = CronSchedule::parse(bad).unwrap_err().to_string();
            assert!(e.ends_with(&format!("; its {field} is wrong")), "{e}");
        }
        let e = CronSchedule::parse("0 0 30 2 *").unwrap_err();
        assert!(e.to_string().contains("never matches"), "{e}");
        let e = TimeZoneName::parse("Europe/Berlinn").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`Europe/Berlinn` is not an IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC)"
        );
        assert!(CronSchedule::parse("@weekly").is_ok());
    }
}
