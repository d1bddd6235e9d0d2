//! The built-in healthcheck against services on 127.0.0.1: healthy after N attempts, never
//! healthy, and one that hangs (each GET bounded by `timeout`).
use gitops_gate::run::healthcheck::{check_all, Target};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `/ok-after` turns healthy on the 3rd request, `/never` is 503, `/hang` never answers.
fn server() -> (String, Arc<AtomicU32>) {
    let s = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let base = format!("http://{}", s.server_addr().to_ip().unwrap());
    let hits = Arc::new(AtomicU32::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for r in s.incoming_requests() {
            match r.url() {
                "/hang" => {
                    // Hold the request open well past the client's timeout.
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_secs(5));
                        let _ = r.respond(tiny_http::Response::from_string("late"));
                    });
                }
                "/ok-after" => {
                    let n = h.fetch_add(1, Ordering::SeqCst) + 1;
                    let code = if n >= 3 { 200 } else { 503 };
                    let _ = r.respond(tiny_http::Response::from_string("x").with_status_code(code));
                }
                _ => {
                    let _ = r.respond(tiny_http::Response::from_string("x").with_status_code(503));
                }
            }
        }
    });
    (base, hits)
}

fn target(service: &str, url: String, retries: u32) -> Target {
    Target {
        service: service.into(),
        urls: vec![url],
        retries,
        interval: Duration::from_millis(20),
        timeout: Duration::from_millis(300),
        initial_delay: Duration::ZERO,
    }
}

#[test]
fn healthy_after_three_attempts_never_healthy_and_hanging() {
    let (base, hits) = server();
    let out = check_all(&[
        target("slow-start", format!("{base}/ok-after"), 5),
        target("broken", format!("{base}/never"), 3),
        target("hung", format!("{base}/hang"), 2),
    ]);
    assert!(out[0].healthy, "{:?}", out[0]);
    assert_eq!(out[0].attempts, 3);
    assert_eq!(hits.load(Ordering::SeqCst), 3, "stops asking once healthy");
    assert!(!out[1].healthy);
    assert_eq!(out[1].attempts, 3);
    assert!(out[1].detail.contains("503"), "{}", out[1].detail);
    assert!(!out[2].healthy);
    assert!(
        out[2].detail.contains("no answer within"),
        "{}",
        out[2].detail
    );
}

#[test]
fn too_few_attempts_is_unhealthy() {
    let (base, _) = server();
    let out = check_all(&[target("slow-start", format!("{base}/ok-after"), 2)]);
    assert!(!out[0].healthy);
    assert_eq!(out[0].attempts, 2);
}
