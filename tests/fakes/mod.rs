//! Shared helpers for the approvals tests: a fake HTTP server on 127.0.0.1 (tiny_http)
//! answering as JIRA or GitHub do, and temp repositories driven with the real `git`.
//!
//! Mount it beside `tests/common/mod.rs` (`mod common; mod fakes;`): its `git` and its
//! binary are `common`'s hermetic ones (`git_std`, `gate_std`).
#![allow(dead_code)]
use crate::common;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The request body, as text.
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.url.split('?').next().unwrap_or("")
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Resp {
    pub fn json(status: u16, body: impl Into<String>) -> Resp {
        Resp {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json;charset=UTF-8".into(),
            )],
            body: body.into().into_bytes(),
            delay: Duration::ZERO,
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn delay(mut self, d: Duration) -> Resp {
        self.delay = d;
        self
    }
}

pub type Handler = dyn Fn(&Seen, usize) -> Resp + Send + Sync;

pub struct Fake {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    /// `handler(request, n)` where `n` counts earlier requests to the same path.
    pub fn start(
        threads: usize,
        handler: impl Fn(&Seen, usize) -> Resp + Send + Sync + 'static,
    ) -> Fake {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
        let port = server.server_addr().to_ip().expect("ip").port();
        let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        for _ in 0..threads {
            let (server, seen, handler) = (server.clone(), seen.clone(), handler.clone());
            std::thread::spawn(move || {
                while let Ok(mut req) = server.recv() {
                    let mut body = String::new();
                    let _ = req.as_reader().read_to_string(&mut body);
                    let s = Seen {
                        method: req.method().to_string(),
                        url: req.url().to_string(),
                        headers: req
                            .headers()
                            .iter()
                            .map(|h| (h.field.to_string(), h.value.to_string()))
                            .collect(),
                        body,
                    };
                    let n = {
                        let mut all = seen.lock().unwrap();
                        let n = all.iter().filter(|x| x.path() == s.path()).count();
                        all.push(s.clone());
                        n
                    };
                    let r = handler(&s, n);
                    if !r.delay.is_zero() {
                        std::thread::sleep(r.delay);
                    }
                    let mut resp = tiny_http::Response::from_data(r.body)
                        .with_status_code(tiny_http::StatusCode(r.status));
                    for (k, v) in r.headers {
                        resp.add_header(
                            tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap(),
                        );
                    }
                    let _ = req.respond(resp);
                }
            });
        }
        Fake {
            url: format!("http://127.0.0.1:{port}"),
            seen,
        }
    }
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    pub fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|s| s.path() == path).count()
    }
}

/// A JIRA Cloud issue as `GET /rest/api/2/issue/{key}?fields=status,...` returns it.
pub fn jira_issue(base: &str, key: &str, status: &str, category: &str) -> String {
    let (cat_id, colour, cat_name) = match category {
        "done" => (3, "green", "Done"),
        "indeterminate" => (4, "yellow", "In Progress"),
        _ => (2, "blue-gray", "To Do"),
    };
    format!(
        r#"{{"expand":"renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations","id":"10042","self":"{base}/rest/api/2/issue/10042","key":"{key}","fields":{{"summary":"Bump api","issuetype":{{"self":"{base}/rest/api/2/issuetype/10001","id":"10001","description":"","iconUrl":"{base}/images/icons/issuetypes/task.svg","name":"Task","subtask":false}},"assignee":null,"status":{{"self":"{base}/rest/api/2/status/10002","description":"","iconUrl":"{base}/","name":"{status}","id":"10002","statusCategory":{{"self":"{base}/rest/api/2/statuscategory/{cat_id}","id":{cat_id},"key":"{category}","colorName":"{colour}","name":"{cat_name}"}}}}}}}}"#
    )
}

pub const JIRA_404: &str = r#"{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}"#;

/// One page of Jira Service Management approvals.
pub fn jsm_approvals(decisions: &[&str], start: usize, last: bool) -> String {
    let values: Vec<String> = decisions
        .iter()
        .enumerate()
        .map(|(i, d)| {
            format!(
                r#"{{"id":"{}","name":"Change manager","finalDecision":"{d}","canAnswerApproval":false,"approvers":[{{"approver":{{"accountId":"5b10a2844c20165700ede21g","displayName":"Mia Krystof"}},"approverDecision":"{d}"}}],"createdDate":{{"iso8601":"2026-11-30T10:00:00+0000","epochMillis":1796032800000}},"_links":{{"self":"https://x/rest/servicedeskapi/request/1/approval/{}"}}}}"#,
                start + i + 1,
                start + i + 1
            )
        })
        .collect();
    format!(
        r#"{{"_expands":[],"size":{},"start":{start},"limit":50,"isLastPage":{last},"_links":{{"base":"https://x","context":"","self":"https://x"}},"values":[{}]}}"#,
        decisions.len(),
        values.join(",")
    )
}

/// A temp repository driven with the real `git`, fixed identities, no global config.
pub struct Git {
    pub dir: tempfile::TempDir,
    pub home: tempfile::TempDir,
}

impl Git {
    pub fn new() -> Git {
        let g = Git {
            dir: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        };
        g.git(&["init", "-q", "-b", "qa"]);
        g
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// `common::git_std` in the repository, with its own HOME (for keyrings) and the date
    /// the fake JIRA and GitHub answers are written around.
    pub fn cmd(&self) -> Command {
        let mut c = common::git_std();
        c.current_dir(self.dir.path())
            .env("HOME", self.home.path())
            .env("GIT_AUTHOR_DATE", "2026-11-30T12:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-11-30T12:00:00Z");
        c
    }
    pub fn git(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
    pub fn write(&self, path: &str, text: &str) {
        let p = self.dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    /// Commits everything as `name <email>` (author and committer), optionally signed with
    /// the SSH key at `key`.
    pub fn commit(&self, msg: &str, name: &str, email: &str, key: Option<&Path>) -> String {
        self.git(&["add", "-A"]);
        let mut c = self.cmd();
        c.env("GIT_AUTHOR_NAME", name)
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_COMMITTER_NAME", name)
            .env("GIT_COMMITTER_EMAIL", email);
        if let Some(k) = key {
            c.args(["-c", "gpg.format=ssh", "-c"])
                .arg(format!("user.signingkey={}", k.display()))
                .args(["commit", "-q", "-S", "--allow-empty", "-m", msg]);
        } else {
            c.args(["commit", "-q", "--allow-empty", "-m", msg]);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "commit: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.git(&["rev-parse", "HEAD"])
    }
    pub fn ledger(&self, env: &str, sha: &str) {
        self.git(&[
            "update-ref",
            &format!("refs/gitops-gate/deployed/{env}"),
            sha,
        ]);
    }
}

pub fn api(version: &str) -> String {
    format!(
        "service: api\nversion: \"{version}\"\nmaintainer: team-api@example.com\ndomain: api.example.com\nport: 8080\nhealthcheck: {{ endpoints: [\"/healthz\"], retries: 3, interval: 1s, timeout: 1s }}\nresources: {{ cpu: 500m, memory: 512Mi }}\nports: [8080]\n"
    )
}

/// Generates an ed25519 key; returns (private key path, public key line).
pub fn ssh_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let p = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(p.with_extension("pub")).unwrap();
    (p, public.trim().to_string())
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub files: Vec<(String, String)>,
}

impl Run {
    pub fn everything(&self) -> String {
        let mut s = format!("{}\n{}\n", self.stdout, self.stderr);
        for (n, t) in &self.files {
            s.push_str(n);
            s.push('\n');
            s.push_str(t);
        }
        s
    }
    pub fn plan(&self) -> serde_json::Value {
        let t = &self
            .files
            .iter()
            .find(|(n, _)| n == "plan.json")
            .unwrap_or_else(|| panic!("no plan.json; stderr: {}", self.stderr))
            .1;
        serde_json::from_str(t).unwrap()
    }
    pub fn checks(&self, rule: &str) -> Vec<serde_json::Value> {
        self.plan()["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["rule"] == rule)
            .cloned()
            .collect()
    }
}

/// `gitops-gate plan` on `repo`, with only `env` in the environment (beside `gate_std`'s).
pub fn plan(repo: &Git, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = tempfile::tempdir().unwrap();
    let mut c = common::gate_std(repo.home.path());
    c.arg("plan")
        .arg("--repo")
        .arg(repo.path())
        .arg("--out")
        .arg(out.path())
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let mut files = Vec::new();
    if let Ok(rd) = std::fs::read_dir(out.path()) {
        for e in rd.flatten() {
            if let Ok(t) = std::fs::read_to_string(e.path()) {
                files.push((e.file_name().to_string_lossy().into_owned(), t));
            }
        }
    }
    let run = Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        files,
    };
    eprintln!(
        "exit {}\n--- stdout\n{}\n--- stderr\n{}",
        run.code, run.stdout, run.stderr
    );
    run
}

/// A minimal HTTP/1.1 server on std sockets, one thread per connection (keep-alive), for
/// load tests where every answer takes `delay`: `answer(path) -> (status, body)`.
pub fn plain_server(
    delay: Duration,
    answer: impl Fn(&str) -> (u16, String) + Send + Sync + 'static,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let answer = Arc::new(answer);
    let c2 = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (answer, count) = (answer.clone(), c2.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h == "\r\n" || h == "\n" {
                            break;
                        }
                    }
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(delay);
                    let (status, body) = answer(&path);
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    if stream
                        .write_all(head.as_bytes())
                        .and_then(|_| stream.write_all(body.as_bytes()))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, count)
}
