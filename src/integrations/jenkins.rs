//! Jenkins hand-off: trigger `buildWithParameters` (with a crumb and its session cookie when
//! the server asks for one), follow the queue item to its build, poll the build to a result,
//! then read its parameters back (Jenkins silently drops parameters a job does not define).
//! An unknown trigger outcome is looked up by the run id, never re-triggered blind.
use super::IntegrationError::{self, BadAnswer as B, Refused as R, Unreachable as U};
use super::{basic, client, error_text, segment};
use crate::ci::Secrets;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Build {
    pub number: u64,
    pub url: String,
    pub result: String,
    /// Requests made while following the build.
    pub polls: u32,
}

impl Build {
    pub fn succeeded(&self) -> bool {
        self.result == "SUCCESS"
    }
}

pub struct Jenkins<'a> {
    base: String,
    http: Client,
    auth: Option<String>,
    crumb: Option<(String, String)>,
    cookie: Option<String>,
    secrets: &'a Secrets,
    /// First and longest pause between polls.
    pub poll: (Duration, Duration),
}

/// `a/b` -> `/job/a/job/b`, each segment percent-encoded.
pub fn job_path(job: &str) -> String {
    job.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| format!("/job/{}", segment(s)))
        .collect()
}

#[derive(Deserialize)]
struct Crumb {
    crumb: String,
    #[serde(rename = "crumbRequestField")]
    field: String,
}

#[derive(Deserialize)]
struct QueueItem {
    #[serde(default)]
    cancelled: bool,
    #[serde(default)]
    executable: Option<Executable>,
    #[serde(default)]
    why: Option<String>,
}

#[derive(Deserialize)]
struct Executable {
    number: u64,
    url: String,
}

#[derive(Deserialize)]
struct BuildState {
    #[serde(default)]
    building: bool,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    number: Option<u64>,
}

impl<'a> Jenkins<'a> {
    pub fn new(base: &str, secrets: &'a Secrets) -> Result<Jenkins<'a>, IntegrationError> {
        let auth = match (
            secrets.get("JENKINS_USER"),
            secrets.get("JENKINS_API_TOKEN"),
        ) {
            (Some(u), Some(t)) => Some(basic(u, t)),
            _ => None,
        };
        Ok(Jenkins {
            base: base.trim_end_matches('/').to_string(),
            http: client(Duration::from_secs(30))
                .map_err(|e| IntegrationError::Unreachable(secrets.redact(&e.to_string())))?,
            auth,
            crumb: None,
            cookie: None,
            secrets,
            poll: (Duration::from_millis(100), Duration::from_secs(2)),
        })
    }

    fn req(&self, r: RequestBuilder) -> RequestBuilder {
        let mut r = r;
        if let Some(a) = &self.auth {
            r = r.header(header::AUTHORIZATION, a);
        }
        if let Some((f, c)) = &self.crumb {
            r = r.header(f.as_str(), c.as_str());
        }
        if let Some(c) = &self.cookie {
            r = r.header(header::COOKIE, c);
        }
        r
    }

    fn err(&self, kind: fn(String) -> IntegrationError, s: String) -> IntegrationError {
        kind(self.secrets.redact(&s))
    }

    fn fetch_crumb(&mut self) -> Result<(), IntegrationError> {
        let url = format!("{}/crumbIssuer/api/json", self.base);
        let resp = self
            .req(self.http.get(&url))
            .send()
            .map_err(|e| self.err(U, format!("Jenkins crumb: {}", error_text(&e))))?;
        if !resp.status().is_success() {
            return Err(self.err(
                R,
                format!("Jenkins crumb issuer answered HTTP {}", resp.status()),
            ));
        }
        let cookie: Vec<String> = resp
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next().map(|s| s.trim().to_string()))
            .collect();
        let c: Crumb = resp
            .json()
            .map_err(|e| self.err(B, format!("Jenkins crumb: {}", error_text(&e))))?;
        self.crumb = Some((c.field, c.crumb));
        if !cookie.is_empty() {
            self.cookie = Some(cookie.join("; "));
        }
        Ok(())
    }

    /// Triggers the job and follows it to a result, all within `timeout`.
    pub fn run(
        &mut self,
        job: &str,
        params: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<Build, IntegrationError> {
        let deadline = Instant::now() + timeout;
        let job_url = format!("{}{}", self.base, job_path(job));
        let run_id = params.get("GITOPS_RUN_ID").cloned().unwrap_or_default();
        let queue = match self.trigger(&job_url, job, params)? {
            Some(q) => q,
            None => {
                log::warn!("Jenkins trigger of `{job}` had an unknown outcome; looking for the build by GITOPS_RUN_ID");
                return self.find_and_follow(&job_url, &run_id, params, deadline);
            }
        };
        let (number, url, mut polls) = self.follow_queue(&queue, deadline)?;
        let b = self.follow_build(&url, number, deadline)?;
        polls += b.polls;
        self.check_parameters(&b.url, params)?;
        Ok(Build { polls, ..b })
    }

    /// `Ok(Some(queue url))`, or `Ok(None)` when the request was sent but no answer came.
    fn trigger(
        &mut self,
        job_url: &str,
        job: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<Option<String>, IntegrationError> {
        let url = format!("{job_url}/buildWithParameters");
        let mut tries = 0;
        loop {
            tries += 1;
            let r = self.req(self.http.post(&url)).form(params).send();
            let resp: Response = match r {
                Ok(r) => r,
                // Nothing reached the server: safe to try again.
                Err(e) if e.is_connect() && tries < 3 => {
                    std::thread::sleep(Duration::from_millis(300 * tries));
                    continue;
                }
                Err(e) if e.is_connect() => {
                    return Err(self.err(U, format!("cannot reach Jenkins: {}", error_text(&e))))
                }
                Err(_) => return Ok(None),
            };
            let status = resp.status().as_u16();
            match status {
                201 | 303 | 302 => {
                    let loc = resp
                        .headers()
                        .get(header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    return match loc {
                        Some(l) => Ok(Some(l)),
                        None => Err(B(format!(
                            "Jenkins accepted `{job}` (HTTP {status}) but sent no Location queue item"
                        ))),
                    };
                }
                403 if self.crumb.is_none() => {
                    let body = resp.text().unwrap_or_default();
                    if body.to_ascii_lowercase().contains("crumb") {
                        self.fetch_crumb()?;
                        continue;
                    }
                    return Err(self.err(R, format!(
                        "Jenkins refused to build `{job}` (HTTP 403): check JENKINS_USER/JENKINS_API_TOKEN and the job's Build permission"
                    )));
                }
                404 => {
                    return Err(self.err(R, format!(
                        "Jenkins has no job `{job}` ({url} answered 404): check steps.<name>.jenkins and the folder path"
                    )))
                }
                s if s >= 500 => return Ok(None),
                s => {
                    return Err(self.err(R, format!(
                        "Jenkins refused to build `{job}`: HTTP {s}"
                    )))
                }
            }
        }
    }

    fn pause(&self, n: u32) -> Duration {
        self.poll
            .0
            .saturating_mul(1u32 << n.min(8))
            .min(self.poll.1)
    }

    fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        url: &str,
    ) -> Result<Option<T>, IntegrationError> {
        match self.req(self.http.get(url)).send() {
            Err(e) => {
                log::debug!(
                    "{}",
                    self.err(U, format!("Jenkins poll: {}", error_text(&e)))
                );
                Ok(None)
            }
            Ok(r) if r.status().is_server_error() => Ok(None),
            Ok(r) if !r.status().is_success() => {
                Err(self.err(R, format!("Jenkins answered HTTP {} for {url}", r.status())))
            }
            Ok(r) => r.json::<T>().map(Some).map_err(|e| {
                self.err(
                    B,
                    format!("Jenkins sent unreadable JSON for {url}: {}", error_text(&e)),
                )
            }),
        }
    }

    fn follow_queue(
        &self,
        queue: &str,
        deadline: Instant,
    ) -> Result<(u64, String, u32), IntegrationError> {
        let url = format!("{}/api/json", queue.trim_end_matches('/'));
        let mut n = 0;
        loop {
            n += 1;
            if let Some(q) = self.get_json::<QueueItem>(&url)? {
                if q.cancelled {
                    return Err(R(format!("the Jenkins queue item {queue} was cancelled")));
                }
                if let Some(e) = q.executable {
                    log::info!("Jenkins build #{} started: {}", e.number, e.url);
                    return Ok((e.number, e.url, n));
                }
                if let Some(w) = q.why {
                    log::debug!("Jenkins queue: {w}");
                }
            }
            if Instant::now() + self.pause(n) >= deadline {
                return Err(U(format!(
                    "timed out waiting for Jenkins to start the queued build {queue}"
                )));
            }
            std::thread::sleep(self.pause(n));
        }
    }

    fn follow_build(
        &self,
        url: &str,
        number: u64,
        deadline: Instant,
    ) -> Result<Build, IntegrationError> {
        let api = format!(
            "{}/api/json?tree=building,result,url,number",
            url.trim_end_matches('/')
        );
        let mut n = 0;
        loop {
            n += 1;
            if let Some(b) = self.get_json::<BuildState>(&api)? {
                if let (Some(result), false) = (b.result.clone(), b.building) {
                    return Ok(Build {
                        number: b.number.unwrap_or(number),
                        url: b.url.unwrap_or_else(|| url.to_string()),
                        result,
                        polls: n,
                    });
                }
            }
            if Instant::now() + self.pause(n) >= deadline {
                return Err(U(format!(
                    "Jenkins build {url} did not finish within the step's timeout (it may still be running)"
                )));
            }
            std::thread::sleep(self.pause(n));
        }
    }

    /// Fails when Jenkins dropped any parameter we sent (the job does not define it).
    fn check_parameters(
        &self,
        url: &str,
        sent: &BTreeMap<String, String>,
    ) -> Result<(), IntegrationError> {
        #[derive(Deserialize)]
        struct Actions {
            #[serde(default)]
            actions: Vec<Action>,
        }
        #[derive(Deserialize)]
        struct Action {
            #[serde(default)]
            parameters: Vec<Param>,
        }
        #[derive(Deserialize)]
        struct Param {
            name: String,
        }
        let api = format!(
            "{}/api/json?tree=actions[parameters[name,value]]",
            url.trim_end_matches('/')
        );
        let Some(a) = self.get_json::<Actions>(&api)? else {
            return Err(B(format!("cannot read the parameters of {url} back")));
        };
        let got: Vec<String> = a
            .actions
            .into_iter()
            .flat_map(|a| a.parameters)
            .map(|p| p.name)
            .collect();
        let missing: Vec<&str> = sent
            .keys()
            .filter(|k| !got.contains(k))
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(B(format!(
                "Jenkins dropped parameters the job does not define: {} (add them to the job's parameters; jenkins.properties lists all)",
                missing.join(", ")
            )))
        }
    }

    /// After an unknown trigger outcome: find the build whose GITOPS_RUN_ID is ours.
    fn find_and_follow(
        &self,
        job_url: &str,
        run_id: &str,
        params: &BTreeMap<String, String>,
        deadline: Instant,
    ) -> Result<Build, IntegrationError> {
        #[derive(Deserialize)]
        struct Builds {
            #[serde(default)]
            builds: Vec<B>,
        }
        #[derive(Deserialize)]
        struct B {
            number: u64,
            url: String,
            #[serde(default)]
            actions: Vec<A>,
        }
        #[derive(Deserialize)]
        struct A {
            #[serde(default)]
            parameters: Vec<P>,
        }
        #[derive(Deserialize)]
        struct P {
            name: String,
            #[serde(default)]
            value: serde_json::Value,
        }
        let api = format!(
            "{job_url}/api/json?tree=builds[number,url,actions[parameters[name,value]]]{{0,20}}"
        );
        let mut n = 0;
        loop {
            n += 1;
            if let Some(list) = self.get_json::<Builds>(&api)? {
                let hit = list.builds.into_iter().find(|b| {
                    b.actions
                        .iter()
                        .flat_map(|a| &a.parameters)
                        .any(|p| p.name == "GITOPS_RUN_ID" && p.value.as_str() == Some(run_id))
                });
                if let Some(b) = hit {
                    let r = self.follow_build(&b.url, b.number, deadline)?;
                    self.check_parameters(&r.url, params)?;
                    return Ok(r);
                }
            }
            if Instant::now() + self.pause(n) >= deadline {
                return Err(U(format!(
                    "the Jenkins trigger had an unknown outcome and no build with GITOPS_RUN_ID {run_id} appeared; not re-triggering blind: check {job_url}"
                )));
            }
            std::thread::sleep(self.pause(n));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn folder_jobs_map_to_nested_paths() {
        assert_eq!(super::job_path("a/b"), "/job/a/job/b");
        assert_eq!(super::job_path("deploy app"), "/job/deploy%20app");
    }
}
