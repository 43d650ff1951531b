//! Hand-written SVG charts for `compare`'s report: a line chart (threads over
//! time, the printer's gaps) and a grouped bar chart (bytes per task, ns per
//! spawn, echo throughput). No dependencies: the markup is built as text.
//!
//! Every chart is 760×380 px: a plot area with a y axis from 0 (or the
//! data's minimum, if negative) to a "nice" maximum with 5 or so gridlines,
//! the legend on the right, and a note under the title. A bar with no value
//! (a mode that is not built, a run that failed) is drawn as its reason in
//! small grey text on the baseline, never as a zero bar. A bar is the median
//! of a cell's runs; a whisker from its smallest to its largest run is drawn
//! over it when they differ.

use std::fmt::Write;

/// Canvas and plot area.
const W: f64 = 760.0;
const H: f64 = 380.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 56.0;
const BOTTOM: f64 = 56.0;

/// The columns' colours, shared by every chart.
pub const SINGLE: &str = "#1f77b4";
/// The cluster's colour (single mode on N loops).
pub const CLUSTER: &str = "#9467bd";
/// mn's colour.
pub const MN: &str = "#d62728";
/// Go's colour.
pub const GO: &str = "#2ca02c";
/// OS threads' colour.
pub const THREADS: &str = "#7f7f7f";
/// An extra series (single with preempt points).
pub const EXTRA: &str = "#ff7f0e";

/// One line of a line chart.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Stroke colour.
    pub color: &'static str,
    /// (x, y) points in x order.
    pub points: Vec<(f64, f64)>,
}

/// One bar of a group.
pub struct Bar {
    /// Legend text.
    pub name: String,
    /// Fill colour.
    pub color: &'static str,
    /// Its height, or why there is none.
    pub value: Result<f64, String>,
    /// The smallest and largest of the runs the height is the median of,
    /// drawn as a whisker when they differ.
    pub range: Option<(f64, f64)>,
}

/// Bars drawn side by side under one x label.
pub struct Group {
    /// The x label.
    pub label: String,
    /// Its bars.
    pub bars: Vec<Bar>,
}

/// A line chart of `series`.
pub fn line_chart(
    title: &str,
    note: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> String {
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y1) = (0.0f64, 1.0f64, 1.0f64);
    let mut y0 = 0.0f64;
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let (xs, ys) = (Axis::new(x0, x1), Axis::new(y0, y1));
    let mut svg = head(title, note);
    grid(&mut svg, &ys, y_label);
    x_ticks(&mut svg, &xs, x_label);
    for s in series {
        if s.points.is_empty() {
            continue;
        }
        let path: Vec<String> = s
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", xs.px_x(x), ys.px_y(y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            s.color,
            path.join(" ")
        );
    }
    let legend: Vec<(String, &str, bool)> = series
        .iter()
        .map(|s| (s.name.clone(), s.color, !s.points.is_empty()))
        .collect();
    finish(svg, &legend)
}

/// A grouped bar chart.
pub fn bar_chart(title: &str, note: &str, y_label: &str, groups: &[Group]) -> String {
    let max = groups
        .iter()
        .flat_map(|g| g.bars.iter())
        .flat_map(|b| {
            let v = b.value.as_ref().ok().copied();
            [v, b.range.map(|r| r.1)]
        })
        .flatten()
        .fold(1e-9, f64::max);
    let ys = Axis::new(0.0, max);
    let mut svg = head(title, note);
    grid(&mut svg, &ys, y_label);
    let plot_w = W - LEFT - RIGHT;
    let slot = plot_w / groups.len().max(1) as f64;
    for (gi, g) in groups.iter().enumerate() {
        let n = g.bars.len().max(1) as f64;
        let bw = (slot * 0.8 / n).min(60.0);
        let start = LEFT + slot * gi as f64 + (slot - bw * n) / 2.0;
        for (bi, b) in g.bars.iter().enumerate() {
            let x = start + bw * bi as f64;
            match &b.value {
                Ok(v) => {
                    let y = ys.px_y(*v);
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                        bw - 2.0,
                        (ys.px_y(0.0) - y).max(0.5),
                        b.color,
                        esc(&b.name),
                        num(*v)
                    );
                    let cx = x + bw / 2.0 - 1.0;
                    let mut label_y = y;
                    if let Some((lo, hi)) = b.range.filter(|r| r.0 < r.1) {
                        let (y_lo, y_hi) = (ys.px_y(lo), ys.px_y(hi));
                        let cap = (bw / 6.0).max(2.0);
                        let _ = writeln!(
                            svg,
                            r##"<path d="M{:.1},{y_lo:.1}H{:.1}M{cx:.1},{y_lo:.1}V{y_hi:.1}M{:.1},{y_hi:.1}H{:.1}" stroke="#333" fill="none"><title>min {}, max {}</title></path>"##,
                            cx - cap,
                            cx + cap,
                            cx - cap,
                            cx + cap,
                            num(lo),
                            num(hi)
                        );
                        label_y = label_y.min(y_hi);
                    }
                    let _ = writeln!(
                        svg,
                        r#"<text x="{cx:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
                        label_y - 3.0,
                        num(*v)
                    );
                }
                Err(why) => {
                    let (cx, cy) = (x + bw / 2.0, ys.px_y(0.0) - 4.0);
                    let _ = writeln!(
                        svg,
                        r#"<text x="{cx:.1}" y="{cy:.1}" font-size="10" fill="{}" transform="rotate(-90 {cx:.1} {cy:.1})">{}</text>"#,
                        b.color,
                        esc(why)
                    );
                }
            }
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            LEFT + slot * (gi as f64 + 0.5),
            H - BOTTOM + 18.0,
            esc(&g.label)
        );
    }
    let mut legend: Vec<(String, &str, bool)> = Vec::new();
    for b in groups.iter().flat_map(|g| g.bars.iter()) {
        if !legend.iter().any(|l| l.0 == b.name) {
            legend.push((b.name.clone(), b.color, true));
        }
    }
    finish(svg, &legend)
}

/// A linear axis from a nice minimum to a nice maximum.
struct Axis {
    lo: f64,
    hi: f64,
    step: f64,
}

impl Axis {
    fn new(lo: f64, hi: f64) -> Axis {
        let step = nice_step((hi - lo).max(1e-9) / 5.0);
        let lo = (lo / step).floor() * step;
        let hi = ((hi / step).ceil() * step).max(lo + step);
        Axis { lo, hi, step }
    }

    fn ticks(&self) -> Vec<f64> {
        let n = ((self.hi - self.lo) / self.step).round() as usize;
        (0..=n).map(|i| self.lo + self.step * i as f64).collect()
    }

    fn px_x(&self, v: f64) -> f64 {
        LEFT + (v - self.lo) / (self.hi - self.lo) * (W - LEFT - RIGHT)
    }

    fn px_y(&self, v: f64) -> f64 {
        H - BOTTOM - (v - self.lo) / (self.hi - self.lo) * (H - TOP - BOTTOM)
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let n = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    n * mag
}

fn head(title: &str, note: &str) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif">"#
    );
    let _ = writeln!(svg, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="22" font-size="16" font-weight="bold">{}</text>"#,
        esc(title)
    );
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="40" font-size="11" fill="#555">{}</text>"##,
        esc(note)
    );
    svg
}

fn grid(svg: &mut String, ys: &Axis, y_label: &str) {
    for t in ys.ticks() {
        let y = ys.px_y(t);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
            W - RIGHT
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            tick(t)
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{:.1}" stroke="#333"/>"##,
        H - BOTTOM
    );
    let (cx, cy) = (18.0, (TOP + H - BOTTOM) / 2.0);
    let _ = writeln!(
        svg,
        r#"<text x="{cx}" y="{cy:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 {cx} {cy:.1})">{}</text>"#,
        esc(y_label)
    );
}

fn x_ticks(svg: &mut String, xs: &Axis, x_label: &str) {
    let base = H - BOTTOM;
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" x2="{:.1}" y1="{base}" y2="{base}" stroke="#333"/>"##,
        W - RIGHT
    );
    for t in xs.ticks() {
        let x = xs.px_x(t);
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            base + 16.0,
            tick(t)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
        LEFT + (W - LEFT - RIGHT) / 2.0,
        H - 12.0,
        esc(x_label)
    );
}

/// Draws the legend and closes the document. A series without data is
/// listed greyed, "(no data)".
fn finish(mut svg: String, legend: &[(String, &str, bool)]) -> String {
    for (i, (name, color, has)) in legend.iter().enumerate() {
        let y = TOP + 10.0 + 20.0 * i as f64;
        let x = W - RIGHT + 16.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{:.1}" width="12" height="12" fill="{color}"/>"#,
            y - 10.0
        );
        let label = if *has {
            esc(name)
        } else {
            format!("{} (no data)", esc(name))
        };
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{y:.1}" font-size="12">{label}</text>"#,
            x + 18.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// An axis tick: as short as it can be (`0.5`, `2000`).
fn tick(v: f64) -> String {
    test_support::cli::fmt_num(v)
}

/// A number for a label, to three significant figures.
fn num(v: f64) -> String {
    crate::results::sig(v, 3)
}

/// XML-escapes `s`.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
