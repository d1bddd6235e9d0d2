//! Properties of the semantic diff and of descriptor parsing.
use gitops_gate::config::{
    parse_descriptor, render_descriptor, Descriptor, Duration, Firewall, Healthcheck, Notify,
    Quantity, Resources,
};
use gitops_gate::diff::{service, Requested};
use proptest::prelude::*;

fn quantity(units: &'static [&'static str]) -> impl Strategy<Value = Quantity> {
    (1u32..4000, prop::sample::select(units))
        .prop_map(|(n, u)| Quantity::parse(&format!("{n}{u}")).unwrap())
}

fn duration() -> impl Strategy<Value = Duration> {
    (1u32..120, prop::sample::select(&["s", "m"][..]))
        .prop_map(|(n, u)| Duration::parse(&format!("{n}{u}")).unwrap())
}

prop_compose! {
    fn healthcheck()(
        endpoints in prop::collection::vec("/[a-z]{1,8}", 1..4),
        retries in 0u32..20,
        interval in duration(),
        timeout in duration(),
        initial_delay in duration(),
    ) -> Healthcheck {
        Healthcheck { endpoints, retries, interval, timeout, initial_delay }
    }
}

prop_compose! {
    fn descriptor()(
        version in "[0-9]{1,3}(\\.[0-9]{1,3}){0,2}(-rc\\.[0-9])?",
        domain in prop::option::of("[a-z]{1,8}\\.example\\.com"),
        port in prop::option::of(1u16..),
        healthcheck in prop::option::of(healthcheck()),
        cpu in prop::option::of(quantity(&["m", ""])),
        memory in prop::option::of(quantity(&["Mi", "Gi", "M"])),
        ports in prop::collection::btree_set(1u16.., 0..4),
        ingress in prop::collection::vec(
            prop::sample::select(&["10.0.0.0/8", "192.168.1.0/24", "::/0", "0.0.0.0/0", "10.1.2.3"][..]),
            0..3),
        email in prop::collection::vec("[a-z]{1,6}@example\\.com", 0..2),
    ) -> Descriptor {
        Descriptor {
            service: "api".into(),
            version,
            maintainer: "team@example.com".into(),
            domain,
            port,
            healthcheck,
            resources: if cpu.is_none() && memory.is_none() { None } else { Some(Resources { cpu, memory }) },
            ports: ports.into_iter().collect(),
            firewall: if ingress.is_empty() { None } else {
                Some(Firewall { ingress: ingress.into_iter().map(String::from).collect() })
            },
            notify: Notify { email, slack: vec![] },
        }
    }
}

/// One field changed, and the path the diff must report for it.
fn mutate(d: &Descriptor, which: u8) -> (Descriptor, &'static str) {
    let mut m = d.clone();
    let path = match which % 7 {
        0 => {
            m.version.push('9');
            "version"
        }
        1 => {
            m.maintainer = "other@example.com".into();
            "maintainer"
        }
        2 => {
            m.domain = Some(match &d.domain {
                Some(x) => format!("x{x}"),
                None => "new.example.com".into(),
            });
            "domain"
        }
        3 => {
            m.port = Some(match d.port {
                Some(1) | None => 2,
                Some(p) => p - 1,
            });
            "port"
        }
        4 => {
            let cpu = d.resources.as_ref().and_then(|r| r.cpu.clone());
            let next = Quantity::from_milli(cpu.map(|q| q.milli() + 1).unwrap_or(250));
            let mut r = d.resources.clone().unwrap_or_default();
            r.cpu = Some(next);
            m.resources = Some(r);
            "resources.cpu"
        }
        5 => {
            let free = (1u16..).find(|p| !d.ports.contains(p)).unwrap();
            m.ports.push(free);
            "ports"
        }
        _ => {
            m.notify.slack = vec!["#new".into()];
            "notify.slack"
        }
    };
    (m, path)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn a_descriptor_against_itself_has_no_change(d in descriptor()) {
        prop_assert!(service("api", Some(&d), Requested::Present(&d)).is_none());
    }

    #[test]
    fn each_single_field_change_is_reported_exactly_once(d in descriptor(), which in 0u8..7) {
        let (m, path) = mutate(&d, which);
        let c = service("api", Some(&d), Requested::Present(&m)).expect("a change");
        let paths: Vec<&str> = c.fields.iter().map(|f| f.path.as_str()).collect();
        prop_assert_eq!(paths, vec![path]);
    }

    #[test]
    fn parsing_a_rendered_descriptor_gives_it_back(d in descriptor()) {
        let text = render_descriptor(&d).unwrap();
        let back = parse_descriptor("services/api.yaml", "api", text.as_bytes());
        prop_assert_eq!(back.as_ref().ok(), Some(&d), "rendered:\n{}\nparse: {:?}", text, back.as_ref().err());
    }
}
