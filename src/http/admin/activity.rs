//! Each rule's activity in the workbench: its last 24 hours and 7 days (calls, alerts
//! raised, errors, timeouts, p50/p99 time) from the store's hourly rows
//! (`store::activity`), as JSON (`GET /admin/api/rulesets/{name}/activity`) and as
//! the page's table with a small chart per rule, drawn here as inline SVG (no script,
//! no CDN; presentation attributes only, so the Content-Security-Policy holds).

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::view::duration;
use crate::clock::now_micros;
use crate::http::{ApiError, AppState};
use crate::store::activity::{self, Figures, Hour, RuleActivity, HOUR_US, WEEK_HOURS};

/// Each rule of `name` (the live rules first, then rules that ran this week and are
/// gone) with its figures, as of now.
pub async fn of(state: &AppState, name: &str) -> Result<Vec<RuleActivity>, ApiError> {
    let rules: Vec<String> = state
        .registry
        .get(name)
        .map(|set| set.rules.iter().map(|r| r.id.clone()).collect())
        .unwrap_or_default();
    let store = state.recorder.store().clone();
    let now = now_micros();
    let ruleset = name.to_string();
    let rows =
        super::blocking(move || store.activity(&ruleset, now - (WEEK_HOURS - 1) * HOUR_US)).await?;
    activity::summarise(rows, &rules, now).map_err(ApiError::from)
}

/// `GET /admin/api/rulesets/{name}/activity`.
pub async fn api(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    if state.registry.get(&name).is_none() && !state.registry.problems().contains_key(&name) {
        return Err(ApiError::NotFound(format!(
            "no rule set `{name}` in the rules folder"
        )));
    }
    let rules = of(&state, &name).await?;
    Ok(Json(serde_json::json!({ "ruleset": name, "rules": rules })).into_response())
}

/// One rule's row in the page's table.
pub struct Row {
    pub rule: String,
    pub day: String,
    pub week: String,
    /// Inline SVG, made here from numbers only.
    pub chart: String,
    /// Not a live rule any more (it ran this week).
    pub gone: bool,
}

pub fn rows(activity: &[RuleActivity], live: &[String]) -> Vec<Row> {
    activity
        .iter()
        .map(|a| Row {
            rule: a.rule.clone(),
            day: figures(&a.day),
            week: figures(&a.week),
            chart: chart(&a.hours),
            gone: !live.contains(&a.rule),
        })
        .collect()
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `120 calls · 14 alerts · 2 errors · p50 0.412 ms · p99 1.20 ms`; errors and timeouts
/// only when there were some.
pub fn figures(f: &Figures) -> String {
    if f.calls == 0 {
        return "no calls".into();
    }
    let mut parts = vec![
        plural(f.calls, "call", "calls"),
        plural(f.alerts, "alert", "alerts"),
    ];
    if f.errors > 0 {
        parts.push(plural(f.errors, "error", "errors"));
    }
    if f.timeouts > 0 {
        parts.push(plural(f.timeouts, "timeout", "timeouts"));
    }
    if let (Some(p50), Some(p99)) = (f.p50_us, f.p99_us) {
        parts.push(format!("p50 {}", duration(p50 as i64)));
        parts.push(format!("p99 {}", duration(p99 as i64)));
    }
    parts.join(" · ")
}

const BAR: usize = 2;
const HEIGHT: u64 = 36;

/// The week by the hour: a bar of calls per hour (the part that errored or timed out
/// in red), the last 24 hours on a shaded band, and the hour's p99 time as a line on
/// its own scale. Each hour with calls has a tooltip with its figures.
pub fn chart(hours: &[Hour]) -> String {
    let width = hours.len() * BAR;
    let most_calls = hours
        .iter()
        .map(|h| h.figures.calls)
        .max()
        .unwrap_or(0)
        .max(1);
    let slowest = hours
        .iter()
        .filter_map(|h| h.figures.p99_us)
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = |n: u64, of: u64| n * HEIGHT / of;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" width="{width}" height="{HEIGHT}" viewBox="0 0 {width} {HEIGHT}" role="img" aria-label="calls per hour over 7 days">"#
    );
    let day_from = hours.len().saturating_sub(24) * BAR;
    let _ = write!(
        svg,
        r##"<rect x="{day_from}" y="0" width="{}" height="{HEIGHT}" fill="#eef3fb"><title>last 24 hours</title></rect>"##,
        width - day_from
    );
    let mut line = Vec::new();
    for (i, hour) in hours.iter().enumerate() {
        let f = &hour.figures;
        let x = i * BAR;
        if f.calls > 0 {
            let total = scale(f.calls, most_calls).max(1);
            let bad =
                scale(f.errors + f.timeouts, most_calls).max(u64::from(f.errors + f.timeouts > 0));
            let _ = write!(
                svg,
                r##"<g><title>{}: {}</title><rect x="{x}" y="{}" width="{BAR}" height="{total}" fill="#8a94a6"/>"##,
                hour_label(hour.hour),
                figures(f),
                HEIGHT - total,
            );
            if bad > 0 {
                let _ = write!(
                    svg,
                    r##"<rect x="{x}" y="{}" width="{BAR}" height="{bad}" fill="#c0392b"/>"##,
                    HEIGHT - bad
                );
            }
            svg.push_str("</g>");
        }
        if let Some(p99) = f.p99_us {
            line.push(format!("{},{}", x + BAR / 2, HEIGHT - scale(p99, slowest)));
        }
    }
    if line.len() > 1 {
        let _ = write!(
            svg,
            r##"<polyline points="{}" fill="none" stroke="#2c6ecb" stroke-width="1"/>"##,
            line.join(" ")
        );
    }
    svg.push_str("</svg>");
    svg
}

/// `2026-12-03 14:00 UTC`.
fn hour_label(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%d %H:00 UTC").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(at: i64, calls: u64, errors: u64, p99: Option<u64>) -> Hour {
        Hour {
            hour: at,
            figures: Figures {
                calls,
                alerts: calls * 2,
                errors,
                timeouts: 0,
                p50_us: p99.map(|p| p / 2),
                p99_us: p99,
            },
        }
    }

    #[test]
    fn a_chart_draws_each_busy_hour_and_only_numbers() {
        let start = 1_790_000_000 / 3600 * 3600 * 1_000_000;
        let mut hours: Vec<Hour> = (0..WEEK_HOURS)
            .map(|i| hour(start + i * HOUR_US, 0, 0, None))
            .collect();
        hours[10] = hour(start + 10 * HOUR_US, 4, 1, Some(800));
        hours[167] = hour(start + 167 * HOUR_US, 8, 0, Some(1600));
        let svg = chart(&hours);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert_eq!(svg.matches("<g>").count(), 2, "{svg}");
        // The busiest hour is full height; half the calls, half of it.
        assert!(
            svg.contains(r##"<rect x="334" y="0" width="2" height="36" fill="#8a94a6"/>"##),
            "{svg}"
        );
        assert!(
            svg.contains(r##"<rect x="20" y="18" width="2" height="18" fill="#8a94a6"/>"##),
            "{svg}"
        );
        // One of its 4 calls failed: a red part on the same scale (1 of the busiest 8).
        assert!(
            svg.contains(r##"<rect x="20" y="32" width="2" height="4" fill="#c0392b"/>"##),
            "{svg}"
        );
        assert!(
            svg.contains("4 calls · 8 alerts · 1 error · p50 0.400 ms · p99 0.800 ms"),
            "{svg}"
        );
        assert!(svg.contains(r#"points="21,18 335,0""#), "{svg}");
        assert!(!svg.contains("style="), "no inline styles under the CSP");
        let empty: Vec<Hour> = (0..WEEK_HOURS)
            .map(|i| hour(start + i * HOUR_US, 0, 0, None))
            .collect();
        let svg = chart(&empty);
        assert!(!svg.contains("<g>") && !svg.contains("polyline"), "{svg}");
        assert_eq!(figures(&Figures::default()), "no calls");
    }
}
