//! Stage ids: the stages the gate itself runs, and the steps a policy defines. A plan, a run
//! record and a Jenkins hand-off name them by the same strings.
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// One stage of a plan. The built-in stages are variants, so the runner matches on them
/// rather than on spellings; every other id is a key of the policy's `steps:`, kept as the
/// policy spells it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StageId {
    /// Tells the changed services' contacts that the release starts.
    NotifyStart,
    /// Tells them how it ended; runs even after a failed stage.
    NotifyEnd,
    /// The descriptor's HTTP checks (built in; `steps.healthcheck` may tune it).
    Healthcheck,
    /// A step the policy defines under `steps:` (`deploy`, `smoke`, ...). Build it with
    /// `StageId::named`, so a built-in name never lands here and ids compare as their text.
    Step(String),
}

impl StageId {
    /// The stage a pipeline entry or a plan names: a built-in name is the built-in stage
    /// (as the runner has always treated it), anything else a policy step.
    pub fn named(name: &str) -> StageId {
        match name {
            "notify-start" => StageId::NotifyStart,
            "notify-end" => StageId::NotifyEnd,
            "healthcheck" => StageId::Healthcheck,
            step => StageId::Step(step.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            StageId::NotifyStart => "notify-start",
            StageId::NotifyEnd => "notify-end",
            StageId::Healthcheck => "healthcheck",
            StageId::Step(step) => step,
        }
    }

    /// The notifications, which the runner performs itself rather than as a step.
    pub fn is_notify(&self) -> bool {
        matches!(self, StageId::NotifyStart | StageId::NotifyEnd)
    }
}

impl From<&str> for StageId {
    fn from(name: &str) -> StageId {
        StageId::named(name)
    }
}

impl fmt::Display for StageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for StageId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StageId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(StageId::named(&std::borrow::Cow::<str>::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_the_spelling_plans_and_records_use() {
        for (id, text) in [
            (StageId::NotifyStart, "notify-start"),
            (StageId::NotifyEnd, "notify-end"),
            (StageId::Healthcheck, "healthcheck"),
            (StageId::Step("deploy".into()), "deploy"),
        ] {
            assert_eq!(id.to_string(), text);
            assert_eq!(StageId::named(text), id);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<StageId>(&json).unwrap(), id);
        }
    }
}
