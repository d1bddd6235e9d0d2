//! Any bytes as `services/api.yaml`: the strict parser must return a value or located errors,
//! never panic, and a descriptor it accepts must diff as unchanged against itself.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = gitops_gate::config::parse_descriptor("services/api.yaml", "api", data) {
        assert!(gitops_gate::diff::service("api", Some(&d), gitops_gate::diff::Requested::Present(&d)).is_none());
        if let Ok(text) = gitops_gate::config::render_descriptor(&d) {
            let back = gitops_gate::config::parse_descriptor("services/api.yaml", "api", text.as_bytes());
            assert_eq!(back.ok().as_ref(), Some(&d), "render/parse round trip");
        }
    }
});
