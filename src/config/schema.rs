//! JSON Schemas for `gitops.yaml` and descriptors, so editors complete and check them.
use super::{Descriptor, Policy};

/// Both schemas, keyed by the file they describe.
pub fn schemas() -> serde_json::Value {
    serde_json::json!({
        "gitops.yaml": schemars::schema_for!(Policy),
        "services/<name>.yaml": schemars::schema_for!(Descriptor),
    })
}
