//! The Slack webhook client against a receiver on 127.0.0.1: payload shape, retries on 5xx
//! and 429 only (honouring Retry-After), and a webhook URL that never appears in an error.
use gitops_gate::ci::{Env, Secrets};
use gitops_gate::integrations::{slack, IntegrationError};
use std::sync::{Arc, Mutex};

fn receiver(codes: Vec<u16>) -> (String, Arc<Mutex<Vec<String>>>) {
    let s = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", s.server_addr().to_ip().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for (i, mut r) in s.incoming_requests().enumerate() {
            let mut body = String::new();
            r.as_reader().read_to_string(&mut body).unwrap();
            g.lock().unwrap().push(body);
            let code = *codes.get(i).unwrap_or(&200);
            let mut resp = tiny_http::Response::from_string("x").with_status_code(code);
            if code == 429 {
                // Slack's rate limit answer: more than the client's 30 s deadline.
                resp.add_header(tiny_http::Header::from_bytes("Retry-After", "120").unwrap());
            }
            let _ = r.respond(resp);
        }
    });
    (base, got)
}

#[test]
fn posts_text_and_blocks_retrying_a_5xx() {
    let (base, got) = receiver(vec![503, 200]);
    let url = format!("{base}/services/T000/B000/hooksecret");
    let secrets = Secrets::from_env(&Env::from_pairs([("SLACK_WEBHOOK_URL", url.as_str())]), &[]);
    let fields = vec![("Environment".to_string(), "qa".to_string())];
    slack::post(&url, "release <to> qa", &fields, &secrets).unwrap();
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 2, "one retry after the 503");
    let v: serde_json::Value = serde_json::from_str(&got[1]).unwrap();
    assert_eq!(v["text"], "release &lt;to&gt; qa");
    assert_eq!(v["blocks"][0]["type"], "section");
    assert!(v["blocks"][1]["fields"][0]["text"]
        .as_str()
        .unwrap()
        .contains("qa"));
}

#[test]
fn a_4xx_is_not_retried_and_the_url_is_redacted() {
    let (base, got) = receiver(vec![404]);
    let url = format!("{base}/services/T000/B000/hooksecret");
    let secrets = Secrets::from_env(&Env::from_pairs([("SLACK_WEBHOOK_URL", url.as_str())]), &[]);
    let e = slack::post(&url, "x", &[], &secrets).unwrap_err();
    assert!(matches!(e, IntegrationError::Refused(_)), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("404"), "{e}");
    assert!(!e.contains("hooksecret"));
    assert_eq!(got.lock().unwrap().len(), 1);
}

#[test]
fn a_rate_limit_asking_for_a_wait_past_the_deadline_is_not_retried() {
    let (base, got) = receiver(vec![429, 200]);
    let url = format!("{base}/services/T000/B000/hooksecret");
    let secrets = Secrets::from_env(&Env::from_pairs([("SLACK_WEBHOOK_URL", url.as_str())]), &[]);
    let e = slack::post(&url, "x", &[], &secrets).unwrap_err();
    assert!(matches!(e, IntegrationError::Unreachable(_)), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("HTTP 429"), "{e}");
    assert!(e.contains("asked to wait 120s, past the deadline"), "{e}");
    assert!(!e.contains("hooksecret"));
    assert_eq!(got.lock().unwrap().len(), 1);
}
