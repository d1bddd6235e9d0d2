//! The run record (DESIGN.md section 5): `run.json` in `--out` and the Git note.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub schema: u32,
    pub environment: String,
    pub head: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    pub plan_digest: String,
    pub started: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// `running`, then `succeeded` or `failed`.
    pub result: String,
    pub stages: Vec<StageRecord>,
    pub ci: CiRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// `moved`, `unchanged` (failed run), `superseded`, or `dry-run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<String>,
    /// The deployed commit's capacity sums, once the ledger has moved to it: the next push
    /// carries them forward instead of reading every descriptor (see `sums`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<crate::gate::Recorded>,
    /// The freeze window(s) the plan was made in, and the emergency override that let it
    /// deploy (copied from the plan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze: Option<crate::gate::freeze::FreezeState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRecord {
    pub id: crate::model::StageId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// `pending`, `succeeded`, `failed` or `skipped`.
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CiRecord {
    pub system: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
