//! Where the base of a push came from: the range walk finds it, the gate and the plan report it.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaseSource {
    /// `refs/gitops-gate/deployed/<env>`: what is really deployed.
    Ledger,
    /// The CI's previous tip, used only while the environment has no ledger.
    Before,
    /// `--base SHA` on the command line.
    Flag,
    /// `--bootstrap`: nothing is deployed yet; every commit is judged.
    Bootstrap,
}
