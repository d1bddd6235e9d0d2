//! `promotion`: a service version arriving on a promoted environment must be the version its
//! `promotes_from` environment runs now (that environment's ledger), and the run record on
//! that ledger commit, when there is one, must say it succeeded. A version that ran there
//! earlier but was since replaced does not pass: what the lower environment runs is what
//! was last proven there.
use super::Rule;
use super::{Check, Input, Verdict};
use crate::config::Level;
use crate::diff::ChangeKind;

pub fn check(input: &Input) -> Vec<Check> {
    let Some(lower) = &input.env.promotes_from else {
        return Vec::new();
    };
    let level = input.gates.promotion();
    if level == Level::Allow {
        return Vec::new();
    }
    let verdict = if level == Level::Warn {
        Verdict::Warn
    } else {
        Verdict::Fail
    };
    let Some(facts) = &input.facts.lower else {
        return vec![Check::new(
            Rule::Promotion,
            verdict,
            format!("the deployed state of {lower} was not read"),
        )];
    };
    let mut out = Vec::new();
    let mut good = Vec::new();
    for c in input.diff.changes {
        if c.kind == ChangeKind::Removed {
            continue;
        }
        let Some(version) = &c.to else { continue };
        let Some(ledger) = &facts.ledger else {
            out.push(
                Check::new(
                    Rule::Promotion,
                    verdict,
                    format!(
                        "{} {version} was not deployed to {lower}: nothing is deployed there yet",
                        c.service
                    ),
                )
                .field("version")
                .value(version.clone())
                .hint(format!("deploy {} {version} to {lower} first", c.service)),
            );
            continue;
        };
        let at = &ledger[..ledger.len().min(7)];
        match facts.versions.get(&c.service) {
            Some(v) if v == version => {}
            other => {
                let there = match other {
                    Some(v) => format!("{lower} runs {v}"),
                    None => format!("{lower} does not run {}", c.service),
                };
                out.push(
                    Check::new(
                        Rule::Promotion,
                        verdict,
                        format!(
                            "{} {version} is not what {lower} runs now ({there} at {at})",
                            c.service
                        ),
                    )
                    .file(format!("services/{}.yaml", c.service))
                    .field("version")
                    .value(version.clone())
                    .limit(other.cloned().unwrap_or_default())
                    .hint(format!(
                        "promote what {lower} runs now (gitops-gate promote --from {lower} --to {}), or deploy {} {version} to {lower} first",
                        input.environment, c.service
                    )),
                );
                continue;
            }
        }
        if let Some(r) = &facts.run_result {
            if r != "succeeded" {
                out.push(
                    Check::new(
                        Rule::Promotion,
                        verdict,
                        format!(
                            "{} {version} is on {lower}'s ledger ({at}) but its run record says `{r}`",
                            c.service
                        ),
                    )
                    .value(version.clone())
                    .hint(format!("re-run the deploy to {lower} until it succeeds")),
                );
                continue;
            }
        }
        good.push(format!("{} {version}", c.service));
    }
    if out.is_empty() && !good.is_empty() {
        let ledger = facts.ledger.as_deref().unwrap_or("");
        out.push(Check::pass(
            Rule::Promotion,
            format!(
                "{} deployed to {lower} at {}{}",
                good.join(", "),
                &ledger[..ledger.len().min(7)],
                if facts.run_result.is_some() {
                    " (run succeeded)"
                } else {
                    ""
                }
            ),
        ));
    }
    out
}
