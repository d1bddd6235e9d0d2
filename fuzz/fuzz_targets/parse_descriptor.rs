//! Any bytes as `services/api.yaml`: the strict parser must return a value or located errors,
//! never panic, a descriptor it accepts must diff as unchanged against itself, and the fast
//! YAML reader must agree with serde_yaml whenever it answers.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    assert!(gitops_gate::config::fast_path_agrees(data), "fast YAML reader disagrees with serde_yaml");
    if let Ok(d) = gitops_gate::config::parse_descriptor("services/api.yaml", "api", data) {
        assert!(gitops_gate::diff::service("api", Some(&d), gitops_gate::diff::Requested::Present(&d)).is_none());
        if let Ok(text) = gitops_gate::config::render_descriptor(&d) {
            let back = gitops_gate::config::parse_descriptor("services/api.yaml", "api", text.as_bytes());
            assert_eq!(back.ok().as_ref(), Some(&d), "render/parse round trip");
        }
    }
});
