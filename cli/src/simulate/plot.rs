//! `--plot FILE.svg|FILE.png`: what a person choosing thresholds looks at.
//!
//! - A sweep (two or more cached configurations): monthly cost (top) and p99 latency (bottom)
//!   against the swept threshold, with the budget and the no-cache cost as horizontal lines.
//! - One configuration: master-key calls per second (top, with the rate limit) and the cache's
//!   hit rate (bottom) over the window.
//!
//! Text is drawn with the DejaVu Sans subset embedded from `cli/assets` (plotters' `ab_glyph`
//! feature), so that drawing needs no system fonts.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, bail};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::dollars;
use super::engine::{CacheConfig, Outcome, Plan};
use super::traffic::{show_duration, show_size};

/// DejaVu Sans, subset to ASCII and a few symbols (see cli/assets/README.md).
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans-subset.ttf");
const FAMILY: &str = "sans-serif";

const SIZE: (u32, u32) = (960, 720);

fn register_font() -> anyhow::Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = register_font_bytes();
    });
    result
}

fn register_font_bytes() -> anyhow::Result<()> {
    plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
        .map_err(|_| anyhow!("the embedded font does not load"))
}

/// Draw the outcomes to `path`, an .svg or a .png.
pub(crate) fn draw(path: &Path, plan: &Plan, outcomes: &[Outcome]) -> anyhow::Result<()> {
    register_font()?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let result = match ext.as_deref() {
        Some("svg") => {
            let root = SVGBackend::new(path, SIZE).into_drawing_area();
            draw_on(&root, plan, outcomes).and_then(|()| root.present().map_err(err))
        }
        Some("png") => {
            let root = BitMapBackend::new(path, SIZE).into_drawing_area();
            draw_on(&root, plan, outcomes).and_then(|()| root.present().map_err(err))
        }
        _ => bail!("--plot draws a .svg or a .png, not {}", path.display()),
    };
    result.map_err(|e| anyhow!("cannot draw {}: {e:#}", path.display()))
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{e}")
}

fn draw_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plan: &Plan,
    outcomes: &[Outcome],
) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let cached: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.config != CacheConfig::Off)
        .collect();
    if cached.len() >= 2 {
        let baseline = outcomes.iter().find(|o| o.config == CacheConfig::Off);
        sweep(root, plan, &cached, baseline)
    } else {
        let one = cached
            .first()
            .copied()
            .or(outcomes.first())
            .ok_or_else(|| anyhow!("nothing to draw"))?;
        over_time(root, plan, one)
    }
}

/// What the sweep varies: the axis title and each configuration's label.
fn swept(cached: &[&Outcome]) -> (String, Vec<String>) {
    let t: Vec<_> = cached
        .iter()
        .filter_map(|o| match o.config {
            CacheConfig::On(t) => Some(t),
            CacheConfig::Off => None,
        })
        .collect();
    let none = |v: Option<String>| v.unwrap_or_else(|| "none".into());
    let dims: [(&str, Vec<String>); 5] = [
        (
            "max messages per data key",
            t.iter()
                .map(|t| none(t.max_messages.map(|m| m.to_string())))
                .collect(),
        ),
        (
            "max bytes per data key",
            t.iter().map(|t| none(t.max_bytes.map(show_size))).collect(),
        ),
        (
            "max age",
            t.iter().map(|t| show_duration(t.max_age)).collect(),
        ),
        (
            "cache capacity",
            t.iter().map(|t| t.capacity.to_string()).collect(),
        ),
        (
            "refresh ahead",
            t.iter()
                .map(|t| none(t.refresh_ahead.map(show_duration)))
                .collect(),
        ),
    ];
    let mut varying = dims
        .into_iter()
        .filter(|(_, labels)| labels.iter().any(|l| l != &labels[0]));
    match (varying.next(), varying.next()) {
        (Some((name, labels)), None) => (name.to_string(), labels),
        _ => (
            "configuration".into(),
            cached.iter().map(|o| o.config.to_string()).collect(),
        ),
    }
}

/// A y axis: values as drawn, and their labels. Costs that span more than a factor of 20 are
/// drawn on a log scale.
struct Axis {
    log: bool,
}

impl Axis {
    fn for_values(values: &[f64]) -> Self {
        let positive: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0).collect();
        let lo = positive.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = positive.iter().copied().fold(0.0, f64::max);
        Axis {
            log: positive.len() == values.len() && hi / lo > 20.0,
        }
    }

    fn to(&self, v: f64) -> f64 {
        if self.log {
            v.max(1e-9).log10()
        } else {
            v
        }
    }

    fn from(&self, y: f64) -> f64 {
        if self.log {
            10f64.powf(y)
        } else {
            y
        }
    }

    /// The drawn range holding `values`, with a margin.
    fn range(&self, values: &[f64]) -> std::ops::Range<f64> {
        let ys: Vec<f64> = values.iter().map(|&v| self.to(v)).collect();
        let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if self.log {
            (lo - 0.3)..(hi + 0.3)
        } else {
            let hi = if hi > 0.0 { hi * 1.15 } else { 1.0 };
            0.0..hi
        }
    }
}

fn sweep<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plan: &Plan,
    cached: &[&Outcome],
    baseline: Option<&Outcome>,
) -> anyhow::Result<()> {
    let (x_name, labels) = swept(cached);
    let n = labels.len();
    let xs = -0.5..(n as f64 - 0.5);
    let label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let title = format!("{}: cost and latency by threshold", traffic_title(plan));
    let root = root
        .titled(&title, (FAMILY, 22))
        .map_err(err)?
        .margin(5, 5, 10, 20);
    let (top, bottom) = root.split_vertically(SIZE.1 * 52 / 100);

    // Monthly cost.
    let costs: Vec<f64> = cached.iter().map(|o| o.cost_usd_per_month).collect();
    let mut all = costs.clone();
    all.extend(plan.budget);
    all.extend(baseline.map(|b| b.cost_usd_per_month));
    let axis = Axis::for_values(&all);
    let mut chart = ChartBuilder::on(&top)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .caption(
            if axis.log {
                "monthly cost (log scale)"
            } else {
                "monthly cost"
            },
            (FAMILY, 16),
        )
        .build_cartesian_2d(xs.clone(), axis.range(&all))
        .map_err(err)?;
    // On a log scale, about one label per decade, so that they fall on round amounts.
    let y_labels = if axis.log {
        let r = axis.range(&all);
        ((r.end - r.start).ceil() as usize + 1).max(2)
    } else {
        10
    };
    chart
        .configure_mesh()
        .y_labels(y_labels)
        .x_labels(n.min(12) + 1)
        .x_label_formatter(&label)
        .y_label_formatter(&|y| dollars(axis.from(*y)))
        .y_desc("$ / month")
        .x_desc(x_name.as_str())
        .label_style((FAMILY, 13))
        .draw()
        .map_err(err)?;
    if let Some(budget) = plan.budget {
        let y = axis.to(budget);
        chart
            .draw_series(LineSeries::new(
                [(xs.start, y), (xs.end, y)],
                RED.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!("budget {}", dollars(budget)))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
    }
    if let Some(b) = baseline {
        let y = axis.to(b.cost_usd_per_month);
        chart
            .draw_series(LineSeries::new(
                [(xs.start, y), (xs.end, y)],
                &BLACK.mix(0.4),
            ))
            .map_err(err)?
            .label(format!("no cache {}", dollars(b.cost_usd_per_month)))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.4)));
    }
    let points: Vec<(f64, f64)> = costs
        .iter()
        .enumerate()
        .map(|(i, &c)| (i as f64, axis.to(c)))
        .collect();
    chart
        .draw_series(LineSeries::new(points.clone(), BLUE.stroke_width(2)))
        .map_err(err)?
        .label("cost with the cache")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(points.iter().map(|&p| Circle::new(p, 4, BLUE.filled())))
        .map_err(err)?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FAMILY, 13))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;

    // p99 latency.
    let p99: Vec<f64> = cached
        .iter()
        .map(|o| o.latency_p99.as_secs_f64() * 1e3)
        .collect();
    let hi = p99.iter().copied().fold(0.0, f64::max).max(1.0) * 1.15;
    let mut chart = ChartBuilder::on(&bottom)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .caption(
            "p99 latency (arrival to success, queueing included)",
            (FAMILY, 16),
        )
        .build_cartesian_2d(xs, 0.0..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(n.min(12) + 1)
        .x_label_formatter(&label)
        .y_desc("ms")
        .x_desc(x_name.as_str())
        .label_style((FAMILY, 13))
        .draw()
        .map_err(err)?;
    let points: Vec<(f64, f64)> = p99
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as f64, l))
        .collect();
    chart
        .draw_series(LineSeries::new(points.clone(), GREEN.stroke_width(2)))
        .map_err(err)?;
    chart
        .draw_series(points.iter().map(|&p| Circle::new(p, 4, GREEN.filled())))
        .map_err(err)?;
    Ok(())
}

fn traffic_title(plan: &Plan) -> String {
    match (&plan.trace, plan.scenario) {
        (Some(t), _) => format!(
            "trace {}",
            t.path
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
        ),
        (None, Some(name)) => format!("scenario {name}"),
        (None, None) => format!("{}", plan.arrivals),
    }
}

fn over_time<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plan: &Plan,
    o: &Outcome,
) -> anyhow::Result<()> {
    let window = o.window.as_secs_f64();
    let (unit, per) = if window <= 1200.0 {
        ("s", 1.0)
    } else if window <= 72_000.0 {
        ("min", 60.0)
    } else {
        ("h", 3600.0)
    };
    let title = format!("{}: {}", traffic_title(plan), o.config);
    let root = root
        .titled(&title, (FAMILY, 22))
        .map_err(err)?
        .margin(5, 5, 10, 20);
    let (top, bottom) = root.split_vertically(SIZE.1 * 52 / 100);
    let x_end = window / per;

    let rate =
        |calls: u64, s: &super::engine::Sample| calls as f64 / s.interval.as_secs_f64().max(1e-9);
    let total: Vec<(f64, f64)> = o
        .series
        .iter()
        .map(|s| (s.at.as_secs_f64() / per, rate(s.calls, s)))
        .collect();
    let decrypt: Vec<(f64, f64)> = o
        .series
        .iter()
        .map(|s| (s.at.as_secs_f64() / per, rate(s.decrypt_calls, s)))
        .collect();
    let mut hi = total.iter().map(|p| p.1).fold(0.0, f64::max);
    hi = hi.max(plan.service.rate_limit.unwrap_or(0.0)).max(1.0) * 1.15;
    let mut chart = ChartBuilder::on(&top)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .caption("master-key calls per second", (FAMILY, 16))
        .build_cartesian_2d(0.0..x_end, 0.0..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(format!("time ({unit})"))
        .y_desc("calls / s")
        .label_style((FAMILY, 13))
        .draw()
        .map_err(err)?;
    if let Some(limit) = plan.service.rate_limit {
        chart
            .draw_series(LineSeries::new(
                [(0.0, limit), (x_end, limit)],
                RED.mix(0.6).stroke_width(2),
            ))
            .map_err(err)?
            .label(format!("rate limit {limit}/s"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.mix(0.6).stroke_width(2)));
    }
    chart
        .draw_series(LineSeries::new(total, BLUE.stroke_width(2)))
        .map_err(err)?
        .label("all calls (generate + unwrap)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    if o.decrypts > 0 {
        chart
            .draw_series(LineSeries::new(decrypt, MAGENTA.stroke_width(2)))
            .map_err(err)?
            .label("decrypt calls (unwrap)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], MAGENTA.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FAMILY, 13))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;

    let mut chart = ChartBuilder::on(&bottom)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .caption(
            if o.config == CacheConfig::Off {
                "cache hit rate (no cache: every request calls the master key)"
            } else {
                "cache hit rate"
            },
            (FAMILY, 16),
        )
        .build_cartesian_2d(0.0..x_end, 0.0..105.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(format!("time ({unit})"))
        .y_desc("% of requests")
        .label_style((FAMILY, 13))
        .draw()
        .map_err(err)?;
    let hits: Vec<(f64, f64)> = o
        .series
        .iter()
        .filter(|s| s.hits + s.misses > 0)
        .map(|s| {
            (
                s.at.as_secs_f64() / per,
                100.0 * s.hits as f64 / (s.hits + s.misses) as f64,
            )
        })
        .collect();
    chart
        .draw_series(LineSeries::new(hits, GREEN.stroke_width(2)))
        .map_err(err)?;
    Ok(())
}
