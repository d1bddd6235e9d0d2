//! Version order by semantic-version rules, and `None` where two versions do not compare.
use std::cmp::Ordering;

pub fn compare_versions(a: &str, b: &str) -> Option<Ordering> {
    let (ca, pa) = split(a)?;
    let (cb, pb) = split(b)?;
    let len = ca.len().max(cb.len());
    for i in 0..len {
        let (x, y) = (
            ca.get(i).copied().unwrap_or(0),
            cb.get(i).copied().unwrap_or(0),
        );
        match x.cmp(&y) {
            Ordering::Equal => {}
            o => return Some(o),
        }
    }
    Some(match (pa, pb) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => compare_pre(x, y),
    })
}

fn split(v: &str) -> Option<(Vec<u64>, Option<&str>)> {
    let v = v.strip_prefix('v').unwrap_or(v);
    let v = v.split('+').next()?;
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (v, None),
    };
    let parts: Option<Vec<u64>> = core.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty()).map(|p| (p, pre))
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    let (xs, ys): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for (x, y) in xs.iter().zip(&ys) {
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    xs.len().cmp(&ys.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn orders_like_semver() {
        use Ordering::*;
        assert_eq!(compare_versions("1.10", "1.9"), Some(Greater));
        assert_eq!(compare_versions("1.4.2", "1.4.10"), Some(Less));
        assert_eq!(compare_versions("v2.0.0", "2.0"), Some(Equal));
        assert_eq!(compare_versions("1.0.0-rc.1", "1.0.0"), Some(Less));
        assert_eq!(compare_versions("1.0.0-alpha", "1.0.0-beta"), Some(Less));
        assert_eq!(compare_versions("1.0.0-rc.2", "1.0.0-rc.10"), Some(Less));
        assert_eq!(compare_versions("latest", "1.0"), None);
    }
}
