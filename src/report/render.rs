//! Report renderers: text, JSON, Markdown (for `$GITHUB_STEP_SUMMARY`) and one
//! self-contained HTML file with inline SVG charts.
use super::{Metrics, Report};

fn dur(s: Option<i64>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s < 3600 => format!("{}m", s / 60),
        Some(s) if s < 86_400 => format!("{:.1}h", s as f64 / 3600.0),
        Some(s) => format!("{:.1}d", s as f64 / 86_400.0),
    }
}

fn pct(r: Option<f64>) -> String {
    r.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn row(name: &str, m: &Metrics) -> [String; 8] {
    [
        name.to_string(),
        m.runs.to_string(),
        format!("{:.2}", m.deploys_per_day),
        format!("{:.2}", m.deploys_per_week),
        dur(m.lead_time_median_s),
        dur(m.lead_time_p90_s),
        pct(m.change_failure_rate),
        format!(
            "{} ({} unrestored)",
            dur(m.time_to_restore_median_s),
            m.unrestored
        ),
    ]
}

const HEAD: [&str; 8] = [
    "",
    "runs",
    "deploys/day",
    "deploys/week",
    "lead time p50",
    "lead time p90",
    "change failure rate",
    "time to restore p50",
];

fn tables(r: &Report) -> Vec<(&'static str, Vec<[String; 8]>)> {
    vec![
        (
            "Environments",
            r.environments.iter().map(|(k, m)| row(k, m)).collect(),
        ),
        (
            "Services",
            r.services.iter().map(|(k, m)| row(k, m)).collect(),
        ),
    ]
}

pub fn json(r: &Report) -> String {
    serde_json::to_string_pretty(r).unwrap_or_default() + "\n"
}

pub fn text(r: &Report) -> String {
    let mut out = format!(
        "Deployments {} .. {}\n",
        r.since.to_rfc3339(),
        r.until.to_rfc3339()
    );
    for (title, rows) in tables(r) {
        out.push_str(&format!("\n{title}\n"));
        for row in rows {
            out.push_str(&format!(
                "  {:<12} runs {:>5}  {}/day  {}/week  lead p50 {} p90 {}  failure {}  restore {}\n",
                row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7]
            ));
        }
    }
    if !r.blocked.is_empty() {
        out.push_str("\nBlocked by the gate (rejected plans per rule)\n");
        for (rule, n) in &r.blocked {
            out.push_str(&format!("  {rule:<12} {n}\n"));
        }
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}

pub fn markdown(r: &Report) -> String {
    let mut out = format!(
        "## Deployments {} .. {}\n",
        r.since.format("%Y-%m-%d"),
        r.until.format("%Y-%m-%d")
    );
    for (title, rows) in tables(r) {
        out.push_str(&format!("\n### {title}\n\n| {} |\n|", HEAD.join(" | ")));
        out.push_str(&" --- |".repeat(HEAD.len()));
        out.push('\n');
        for row in rows {
            let cells: Vec<String> = row.iter().map(|c| esc(c)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
    }
    if !r.blocked.is_empty() {
        out.push_str("\n### Blocked by the gate\n\n| rule | rejected plans |\n| --- | --- |\n");
        for (rule, n) in &r.blocked {
            out.push_str(&format!("| {} | {n} |\n", esc(rule)));
        }
    }
    out
}

fn html_esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Weekly succeeded (green) and failed (red) runs, stacked, all environments together.
fn weekly_chart(r: &Report) -> String {
    let weeks: Vec<(&String, usize, usize)> = r
        .weekly
        .iter()
        .map(|(w, e)| {
            (
                w,
                e.values().map(|c| c.0).sum(),
                e.values().map(|c| c.1).sum(),
            )
        })
        .collect();
    let max = weeks.iter().map(|w| w.1 + w.2).max().unwrap_or(0).max(1);
    let (bw, h) = (28usize, 160usize);
    let width = (weeks.len() * (bw + 6)).max(200) + 40;
    let mut svg = format!(
        "<svg id=\"weekly\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" role=\"img\" aria-label=\"deploys per week\">",
        h + 40
    );
    for (i, (w, ok, failed)) in weeks.iter().enumerate() {
        let x = 30 + i * (bw + 6);
        let hok = ok * h / max;
        let hf = failed * h / max;
        svg.push_str(&format!(
            "<rect class=\"ok\" x=\"{x}\" y=\"{}\" width=\"{bw}\" height=\"{hok}\" fill=\"#2da44e\"><title>{} succeeded: {ok}</title></rect>",
            10 + h - hok,
            html_esc(w)
        ));
        svg.push_str(&format!(
            "<rect class=\"failed\" x=\"{x}\" y=\"{}\" width=\"{bw}\" height=\"{hf}\" fill=\"#cf222e\"><title>{} failed: {failed}</title></rect>",
            10 + h - hok - hf,
            html_esc(w)
        ));
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"9\" text-anchor=\"middle\">{}</text>",
            x + bw / 2,
            h + 25,
            html_esc(&w[w.len().saturating_sub(3)..])
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// Per environment: change failure rate and median / p90 lead time, as horizontal bars.
fn environments_chart(r: &Report) -> String {
    let rows: Vec<(&String, &super::Metrics)> = r.environments.iter().collect();
    let max_lead = rows
        .iter()
        .filter_map(|(_, m)| m.lead_time_p90_s.or(m.lead_time_median_s))
        .max()
        .unwrap_or(0)
        .max(1);
    let (label_w, bar_w, row_h) = (90usize, 220usize, 34usize);
    let width = label_w + 2 * (bar_w + 30);
    let height = 30 + rows.len() * row_h;
    let mut svg = format!(
        "<svg id=\"environments\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"change failure rate and lead time per environment\"><text x=\"{label_w}\" y=\"14\" font-size=\"11\">change failure rate</text><text x=\"{}\" y=\"14\" font-size=\"11\">lead time (median, p90)</text>",
        label_w + bar_w + 30
    );
    for (i, (env, m)) in rows.iter().enumerate() {
        let y = 24 + i * row_h;
        let rate = m.change_failure_rate.unwrap_or(0.0);
        let w_rate = (rate * bar_w as f64).round() as usize;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"11\">{}</text><rect class=\"rate\" x=\"{label_w}\" y=\"{y}\" width=\"{w_rate}\" height=\"12\" fill=\"#cf222e\"><title>{}: {:.0}% of runs failed</title></rect><text x=\"{}\" y=\"{}\" font-size=\"10\">{:.0}%</text>",
            y + 10,
            html_esc(env),
            html_esc(env),
            rate * 100.0,
            label_w + w_rate + 4,
            y + 10,
            rate * 100.0
        ));
        let x0 = label_w + bar_w + 30;
        for (k, (v, colour, what)) in [
            (m.lead_time_median_s, "#0969da", "median"),
            (m.lead_time_p90_s, "#54aeff", "p90"),
        ]
        .into_iter()
        .enumerate()
        {
            let Some(v) = v else { continue };
            let w = (v.max(0) as usize) * bar_w / max_lead as usize;
            let yy = y + k * 14;
            svg.push_str(&format!(
                "<rect class=\"lead\" x=\"{x0}\" y=\"{yy}\" width=\"{w}\" height=\"12\" fill=\"{colour}\"><title>{} lead time {what}: {:.1} h</title></rect>",
                html_esc(env),
                v as f64 / 3600.0
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

pub fn html(r: &Report) -> String {
    let mut body = String::new();
    body.push_str(&format!(
        "<h1>Deployments</h1><p>{} .. {}</p><h2>Deploys per week</h2>{}",
        html_esc(&r.since.to_rfc3339()),
        html_esc(&r.until.to_rfc3339()),
        weekly_chart(r)
    ));
    if !r.environments.is_empty() {
        body.push_str("<h2>Failure rate and lead time</h2>");
        body.push_str(&environments_chart(r));
    }
    for (title, rows) in tables(r) {
        body.push_str(&format!("<h2>{title}</h2><table><tr>"));
        for h in HEAD {
            body.push_str(&format!("<th>{}</th>", html_esc(h)));
        }
        body.push_str("</tr>");
        for row in rows {
            body.push_str("<tr>");
            for c in row {
                body.push_str(&format!("<td>{}</td>", html_esc(&c)));
            }
            body.push_str("</tr>");
        }
        body.push_str("</table>");
    }
    if !r.blocked.is_empty() {
        body.push_str(
            "<h2>Blocked by the gate</h2><table><tr><th>rule</th><th>rejected plans</th></tr>",
        );
        for (rule, n) in &r.blocked {
            body.push_str(&format!("<tr><td>{}</td><td>{n}</td></tr>", html_esc(rule)));
        }
        body.push_str("</table>");
    }
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>gitops-gate report</title><style>body{{font-family:system-ui,sans-serif;margin:2em;color:#1f2328}}table{{border-collapse:collapse}}td,th{{border:1px solid #d0d7de;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}</style></head><body>{body}</body></html>\n"
    )
}
