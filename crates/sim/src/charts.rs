//! The report's charts as inline SVG (no script, no network): line charts of one value per
//! autoscaler over time, and stacked area charts of one run's capacity by capacity type and
//! instance family. Every chart has hour ticks on its time axis, value ticks on the other,
//! and both axes named; it scales to the page's width, down to a phone's.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use karpenter_model::time::{HOUR, Time};

/// Escape text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Series colours, in order.
pub const COLORS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

const W: f64 = 720.0;
const H: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 42.0;

/// One named series of (time, value) points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// Points, in time order.
    pub points: Vec<(Time, f64)>,
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A step that gives 4 to 8 ticks up to `max`: 1, 2 or 5 times a power of ten.
fn nice_step(max: f64) -> f64 {
    let raw = (max / 5.0).max(1e-9);
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

struct Frame {
    t_max: f64,
    v_max: f64,
}

impl Frame {
    fn x(&self, t: Time) -> f64 {
        LEFT + (t as f64 / self.t_max) * (W - LEFT - RIGHT)
    }
    fn y(&self, v: f64) -> f64 {
        TOP + (1.0 - v / self.v_max) * (H - TOP - BOTTOM)
    }
}

/// The open tags, the axes with their ticks and names.
fn frame(title: &str, y_name: &str, t_end: Time, v_top: f64) -> (String, Frame) {
    let t_max = t_end.max(1) as f64;
    let step = nice_step(v_top.max(1e-9));
    let v_max = (v_top / step).ceil().max(1.0) * step;
    let f = Frame { t_max, v_max };
    let mut svg = format!(
        "<figure><figcaption>{t}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{t}\" viewBox=\"0 0 {W} {H}\" preserveAspectRatio=\"xMidYMid meet\">",
        t = esc(title)
    );
    let _ = write!(
        svg,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{}\" height=\"{}\" fill=\"#fafafa\" stroke=\"#ccc\"/>",
        W - LEFT - RIGHT,
        H - TOP - BOTTOM
    );
    // value ticks
    let mut v = 0.0;
    while v <= v_max + step / 2.0 {
        let y = f.y(v);
        let _ = write!(
            svg,
            "<line class=\"tick\" x1=\"{}\" x2=\"{LEFT}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#999\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            LEFT - 4.0,
            LEFT - 6.0,
            y + 4.0,
            fmt_num(v)
        );
        v += step;
    }
    // hour ticks: every hour up to 6 h, then every 2, 3 or 6 hours
    let hours = (t_max / HOUR as f64).ceil() as i64;
    let every = match hours {
        0..=6 => 1,
        7..=12 => 2,
        13..=24 => 3,
        _ => 6,
    };
    let mut h = 0;
    while h <= hours {
        let t = h * HOUR;
        if t as f64 > t_max + 1.0 {
            break;
        }
        let x = f.x(t);
        let _ = write!(
            svg,
            "<line class=\"tick\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#999\"/><text class=\"hour\" x=\"{x:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{h}h</text>",
            H - BOTTOM,
            H - BOTTOM + 4.0,
            H - BOTTOM + 16.0
        );
        h += every;
    }
    let _ = write!(
        svg,
        "<text class=\"axis\" x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">time since start (hours)</text>",
        LEFT + (W - LEFT - RIGHT) / 2.0,
        H - 6.0
    );
    let _ = write!(
        svg,
        "<text class=\"axis\" x=\"12\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 {})\">{}</text>",
        TOP + (H - TOP - BOTTOM) / 2.0,
        TOP + (H - TOP - BOTTOM) / 2.0,
        esc(y_name)
    );
    (svg, f)
}

fn legend(names: &[&str]) -> String {
    let mut out = String::from("<p class=\"legend\">");
    for (i, n) in names.iter().enumerate() {
        let _ = write!(
            out,
            "<span style=\"color:{}\">&#9632; {}</span>",
            COLORS[i % COLORS.len()],
            esc(n)
        );
    }
    out.push_str("</p>");
    out
}

/// A line chart: one polyline per series.
pub fn lines(title: &str, y_name: &str, series: &[Series]) -> String {
    let t_end = series
        .iter()
        .flat_map(|s| s.points.last())
        .map(|p| p.0)
        .max()
        .unwrap_or(1);
    let v_top = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let (mut svg, f) = frame(title, y_name, t_end, v_top);
    for (i, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .points
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", f.x(*t), f.y(*v)))
            .collect();
        let _ = write!(
            svg,
            "<polyline class=\"series\" data-series=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>",
            esc(&s.name),
            COLORS[i % COLORS.len()],
            points.join(" ")
        );
    }
    svg.push_str("</svg>");
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    svg.push_str(&legend(&names));
    svg.push_str("</figure>");
    svg
}

/// A stacked area chart: at each time `t`, the layers' values piled in key order.
pub fn stacked(title: &str, y_name: &str, layers: &[(Time, BTreeMap<String, f64>)]) -> String {
    let keys: Vec<String> = {
        let mut k: Vec<String> = layers.iter().flat_map(|(_, m)| m.keys().cloned()).collect();
        k.sort();
        k.dedup();
        k
    };
    let t_end = layers.last().map_or(1, |l| l.0);
    let v_top = layers
        .iter()
        .map(|(_, m)| m.values().sum::<f64>())
        .fold(0.0, f64::max);
    let (mut svg, f) = frame(title, y_name, t_end, v_top);
    let mut below = vec![0.0; layers.len()];
    for (i, key) in keys.iter().enumerate() {
        let above: Vec<f64> = layers
            .iter()
            .zip(&below)
            .map(|((_, m), b)| b + m.get(key).copied().unwrap_or(0.0))
            .collect();
        let mut pts: Vec<String> = layers
            .iter()
            .zip(&above)
            .map(|((t, _), v)| format!("{:.1},{:.1}", f.x(*t), f.y(*v)))
            .collect();
        pts.extend(
            layers
                .iter()
                .zip(&below)
                .rev()
                .map(|((t, _), v)| format!("{:.1},{:.1}", f.x(*t), f.y(*v))),
        );
        let _ = write!(
            svg,
            "<polygon class=\"layer\" data-layer=\"{}\" fill=\"{}\" fill-opacity=\"0.8\" stroke=\"none\" points=\"{}\"/>",
            esc(key),
            COLORS[i % COLORS.len()],
            pts.join(" ")
        );
        below = above;
    }
    svg.push_str("</svg>");
    let names: Vec<&str> = keys.iter().map(String::as_str).collect();
    svg.push_str(&legend(&names));
    svg.push_str("</figure>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_step(240.0), 50.0);
        assert_eq!(nice_step(1.0), 0.2);
        assert_eq!(nice_step(7.3), 2.0);
    }

    #[test]
    fn a_day_long_chart_has_hour_ticks_every_three_hours_and_named_axes() {
        let s = Series {
            name: "a".into(),
            points: vec![(0, 1.0), (24 * HOUR, 3.0)],
        };
        let svg = lines("t", "nodes", &[s]);
        assert_eq!(svg.matches("class=\"hour\"").count(), 9, "0h, 3h ... 24h");
        assert!(svg.contains(">24h</text>") && svg.contains(">nodes</text>"));
        assert!(svg.contains("time since start (hours)"));
    }

    #[test]
    fn stacked_layers_pile_up() {
        let mut a = BTreeMap::new();
        a.insert("spot m5".to_string(), 4.0);
        a.insert("on-demand c5".to_string(), 2.0);
        let svg = stacked("mix", "vCPU", &[(0, a.clone()), (HOUR, a)]);
        assert_eq!(svg.matches("<polygon class=\"layer\"").count(), 2);
        assert!(svg.contains("spot m5") && svg.contains("on-demand c5"));
    }
}
