//! notify-start and notify-end: Slack, email, JIRA comments and the failure ticket. Every
//! failure here is a log warning; none changes the run's result.
use super::record::RunRecord;
use super::{FailedStage, Setup};
use crate::ci::Secrets;
use crate::integrations::{email, jira_tickets, slack};
use std::time::Duration;

pub struct Notifier<'a> {
    pub setup: &'a Setup,
    pub secrets: &'a Secrets,
    pub webhook_env: &'a str,
}

impl Notifier<'_> {
    fn env(&self) -> String {
        self.setup.plan.environment.clone().unwrap_or_default()
    }

    fn services(&self) -> String {
        self.setup
            .plan
            .changes
            .iter()
            .map(|c| format!("{} {}", c.service, c.to_label()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn link(&self) -> String {
        self.setup
            .plan
            .push
            .run_url
            .clone()
            .unwrap_or_else(|| "(no CI run link)".into())
    }

    fn slack(&self, text: &str, result: &str) {
        let Some(url) = self.secrets.get(self.webhook_env) else {
            log::info!("no {} set: no Slack message", self.webhook_env);
            return;
        };
        let fields = vec![
            ("Environment".to_string(), self.env()),
            ("Services".to_string(), self.services()),
            ("Result".to_string(), result.to_string()),
            ("CI run".to_string(), self.link()),
        ];
        if let Err(e) = slack::post(url, text, &fields, self.secrets) {
            log::warn!("Slack notification failed (the release is not affected): {e}");
        }
    }

    pub fn start(&self) {
        let text = format!(
            "gitops-gate: releasing to {}: {} ({})",
            self.env(),
            self.services(),
            self.link()
        );
        self.slack(&text, "started");
    }

    pub fn end(&self, rec: &RunRecord, failed: Option<&FailedStage>) {
        let what = match failed {
            Some(f) => format!(
                "failed at `{}`{}: {}",
                f.id,
                f.service
                    .as_deref()
                    .map(|s| format!(" of {s}"))
                    .unwrap_or_default(),
                f.detail
            ),
            None => rec.result.clone(),
        };
        let text = format!(
            "gitops-gate: release to {} {}: {} ({})",
            self.env(),
            what,
            self.services(),
            self.link()
        );
        self.slack(&text, &rec.result);
        self.email(&text, rec);
        self.jira(&text, failed);
    }

    fn email(&self, text: &str, rec: &RunRecord) {
        let Some(cfg) = &self.setup.policy.integrations.email else {
            return;
        };
        let mut to: Vec<String> = Vec::new();
        for c in &self.setup.plan.changes {
            if let Some(d) = self
                .setup
                .requested
                .get(&c.service)
                .or_else(|| self.setup.deployed.get(&c.service))
            {
                for e in d.notify.email.iter().chain(std::iter::once(&d.maintainer)) {
                    if !to.contains(e) {
                        to.push(e.clone());
                    }
                }
            }
        }
        if to.is_empty() {
            return;
        }
        let subject = format!(
            "[gitops-gate] {} {}: {}",
            self.env(),
            rec.result,
            self.services()
        );
        let body = format!(
            "{text}\n\nhead: {}\nplan: {}\n\nstages:\n{}\n",
            rec.head,
            rec.plan_digest,
            rec.stages
                .iter()
                .map(|s| format!(
                    "  {} {}: {}",
                    s.id,
                    s.service.as_deref().unwrap_or(""),
                    s.result
                ))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let ca = cfg.ca_file.as_ref().map(|f| self.setup.repo_dir.join(f));
        let m = email::Mail {
            smtp: &cfg.smtp,
            from: &cfg.from,
            to: &to,
            subject: &subject,
            body: &body,
            ca_file: ca.as_deref(),
        };
        if let Err(e) = email::send(&m, self.secrets) {
            log::warn!("email notification failed (the release is not affected): {e}");
        }
    }

    fn jira(&self, text: &str, failed: Option<&FailedStage>) {
        let Some(cfg) = &self.setup.policy.integrations.jira else {
            return;
        };
        let within = cfg
            .timeout
            .as_ref()
            .map(|t| t.std())
            .unwrap_or(Duration::from_secs(30));
        let jira = match jira_tickets::Jira::new(&cfg.url, self.secrets, within) {
            Ok(j) => j,
            Err(e) => {
                log::warn!("JIRA client: {e}");
                return;
            }
        };
        let env = self.env();
        let projects = self
            .setup
            .policy
            .gates_for(&env)
            .jira
            .map(|j| j.projects)
            .unwrap_or_default();
        let mut keys: Vec<String> = Vec::new();
        for c in &self.setup.commits {
            for k in crate::gate::ticket_keys(&c.message, &projects) {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        for k in &keys {
            if let Err(e) = jira.comment(k, text) {
                log::warn!("JIRA comment on {k} failed (the release is not affected): {e}");
            }
        }
        if let (Some(f), Some(t)) = (failed, &cfg.ticket_on_failure) {
            if let Err(e) = self.ticket(&jira, cfg, t, f) {
                log::warn!("JIRA failure ticket not created: {e}");
            }
        }
    }

    fn ticket(
        &self,
        jira: &jira_tickets::Jira,
        cfg: &crate::config::JiraIntegration,
        t: &crate::config::TicketOnFailure,
        f: &FailedStage,
    ) -> Result<(), crate::integrations::IntegrationError> {
        let env = self.env();
        let service = f.service.clone().unwrap_or_else(|| "release".into());
        let version = f.version.clone().unwrap_or_default();
        let label: String = format!("gitops-gate-{env}-{service}-{version}")
            .chars()
            .map(|c| if c.is_whitespace() { '_' } else { c })
            .collect();
        let jql = format!(
            "project = {} AND labels = {} AND statusCategory != Done",
            jira_tickets::jql_quote(&t.project),
            jira_tickets::jql_quote(&label)
        );
        if let Some(open) = jira.search_one(&jql)? {
            log::warn!("{open} is still open for {service} {version} on {env}: no new ticket");
            let _ = jira.comment(&open, &format!("failed again: `{}`: {}", f.id, f.detail));
            return Ok(());
        }
        let head = self
            .setup
            .commits
            .iter()
            .find(|c| Some(c.id.as_str()) == self.setup.plan.push.head.as_deref());
        let assignee = match head {
            Some(c) => {
                let email = &c.committer.email;
                let flavour = jira.flavour();
                match jira.user_by_email(email, flavour) {
                    Ok(Some(a)) => Some(a),
                    found => {
                        if let Err(e) = found {
                            log::warn!("JIRA user search for {email}: {e}");
                        }
                        cfg.users
                            .get(email)
                            .map(|v| jira_tickets::Account::from_config(v, flavour))
                    }
                }
            }
            None => None,
        };
        let summary = format!("Deploy of {service} {version} to {env} failed at {}", f.id);
        let description = format!(
            "Stage: {}\nService: {service} {version}\nEnvironment: {env}\nCommit: {}\nCI run: {}\n{}\nLog tail:\n{{noformat}}\n{}\n{{noformat}}\n",
            f.id,
            self.setup.plan.push.head.as_deref().unwrap_or(""),
            self.link(),
            f.url.as_deref().map(|u| format!("Details: {u}\n")).unwrap_or_default(),
            f.tail.join("\n").replace("{noformat}", "")
        );
        let key = jira.create(
            &t.project,
            &t.issue_type,
            &summary,
            &description,
            &["gitops-gate".to_string(), label],
            assignee.as_ref(),
        )?;
        crate::errln!("gitops-gate: opened {key} for the failure");
        Ok(())
    }
}
