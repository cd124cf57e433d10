//! `--plot FILE.svg`: every measured row's latency percentile curve, p50 to p99.99, from its
//! HDR histogram, drawn with plotters' SVG backend (no font or bitmap libraries: the text is
//! SVG `<text>`, sized by plotters' estimate).
//!
//! x is in "nines", log10(1 / (1 - q)): 50% at 0.3, 90% at 1, 99% at 2, 99.9% at 3, 99.99% at
//! 4, so each decade of the tail gets the same width. y is the latency in ms, log scale.

use std::ops::Range;
use std::path::Path;

use hdrhistogram::Histogram;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::{latency, Outcome, Row};

const SIZE: (u32, u32) = (1280, 800);
/// The heading's lines are wrapped at this many characters.
const LINE: usize = 140;
/// The curve's points, evenly spaced in nines from p50 to p99.99.
const STEPS: u32 = 400;
/// The axis's ticks and their labels.
const TICKS: [(f64, &str); 5] = [
    (0.5, "50%"),
    (0.9, "90%"),
    (0.99, "99%"),
    (0.999, "99.9%"),
    (0.9999, "99.99%"),
];

/// The chart's title and the lines of small print under it.
#[derive(Debug)]
pub struct Heading {
    pub title: String,
    pub lines: Vec<String>,
}

/// One row's curve: its legend entry and its (nines, ms) points.
struct Curve {
    label: String,
    points: Vec<(f64, f64)>,
}

fn nines(q: f64) -> f64 {
    -(1.0 - q).log10()
}

fn curve(label: &str, h: &Histogram<u64>) -> Curve {
    let (from, to) = (nines(TICKS[0].0), nines(TICKS[4].0));
    let points = (0..=STEPS)
        .map(|i| {
            let x = from + (to - from) * f64::from(i) / f64::from(STEPS);
            let q = (1.0 - 10f64.powf(-x)).min(TICKS[4].0);
            (x, h.value_at_quantile(q).max(1) as f64 / 1e3)
        })
        .collect();
    let at = |q: f64| latency(h.value_at_quantile(q));
    Curve {
        label: format!(
            "{label}: p50 {}, p99 {}, p99.99 {}",
            at(0.5),
            at(0.99),
            at(0.9999)
        ),
        points,
    }
}

fn curves(rows: &[Row]) -> Vec<Curve> {
    rows.iter()
        .filter_map(|row| {
            match &row.outcome {
                Outcome::Measured(f) => f.histogram.as_ref().filter(|h| !h.is_empty()),
                _ => None,
            }
            .map(|h| curve(row.scenario.label(), h))
        })
        .collect()
}

/// The x axis: linear in nines from p50 to p99.99, with a tick at each of [`TICKS`] (plotters'
/// own f64 axis would put them at round numbers of nines: 0.5, 1.0, 1.5, ...).
struct Nines;

impl Ranged for Nines {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, (from, to): (i32, i32)) -> i32 {
        let Range { start, end } = self.range();
        let share = (value - start) / (end - start);
        from + (f64::from(to - from) * share).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match hint.weight().allow_light_points() {
            // No light grid lines between the ticks.
            true => Vec::new(),
            false => TICKS.iter().map(|(q, _)| nines(*q)).collect(),
        }
    }

    fn range(&self) -> Range<f64> {
        nines(TICKS[0].0)..nines(TICKS[4].0)
    }
}

/// A tick's label: "50%" .. "99.99%".
fn x_label(x: &f64) -> String {
    TICKS
        .iter()
        .find(|(q, _)| (nines(*q) - x).abs() < 1e-9)
        .map_or_else(String::new, |(_, label)| (*label).to_string())
}

/// The y axis: latency in ms on a log scale, ticks at 1, 2 and 5 of each decade and light grid
/// lines at the other digits (plotters' own log axis leaves the decade below 1 ms unlabelled).
struct LogMs(Range<f64>);

impl LogMs {
    /// `digits` times each power of ten that falls in the range.
    fn points(&self, digits: &[f64]) -> Vec<f64> {
        let Range { start, end } = self.0;
        let (first, last) = (start.log10().floor() as i32, end.log10().ceil() as i32);
        (first..=last)
            .flat_map(|e| digits.iter().map(move |d| d * 10f64.powi(e)))
            .filter(|v| (start..=end).contains(v))
            .collect()
    }
}

impl Ranged for LogMs {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, (from, to): (i32, i32)) -> i32 {
        let (start, end) = (self.0.start.log10(), self.0.end.log10());
        let share = (value.max(f64::MIN_POSITIVE).log10() - start) / (end - start);
        from + (f64::from(to - from) * share).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match hint.weight().allow_light_points() {
            true => self.points(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]),
            false => self.points(&[1.0, 2.0, 5.0]),
        }
    }

    fn range(&self) -> Range<f64> {
        self.0.clone()
    }
}

/// "0.2 ms", "5 ms", "20 ms": the y ticks, without float noise.
fn y_label(ms: &f64) -> String {
    let text = format!("{ms:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} ms")
}

/// Colours that stay apart on white (Tableau's ten); rows past the tenth are dashed.
const COLOURS: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

fn failed(e: impl std::fmt::Display) -> String {
    format!("--plot: cannot draw the chart: {e}")
}

/// Draws the curves of every row that has a histogram (wrk's has none) into `path`.
pub fn write(path: &Path, heading: &Heading, rows: &[Row]) -> Result<(), String> {
    let curves = curves(rows);
    if curves.is_empty() {
        return Err("--plot: no row measured latencies to draw".into());
    }
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(failed)?;
    let lines: Vec<String> = heading.lines.iter().flat_map(|l| wrap(l, LINE)).collect();
    let (top, body) = root.split_vertically(60 + 20 * lines.len() as u32);
    draw_heading(&top, &heading.title, &lines)?;
    draw_chart(&body, &curves)?;
    root.present()
        .map_err(|e| format!("--plot: cannot write {}: {e}", path.display()))
}

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::replace(&mut line, format!("    {word}")));
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines.push(line);
    lines
}

fn draw_heading(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    lines: &[String],
) -> Result<(), String> {
    let big = ("sans-serif", 28).into_font().color(&BLACK);
    area.draw(&Text::new(title, (20, 12), big))
        .map_err(failed)?;
    let small = ("sans-serif", 17).into_font().color(&BLACK.mix(0.75));
    for (i, line) in lines.iter().enumerate() {
        let y = 48 + 20 * i as i32;
        area.draw(&Text::new(line.as_str(), (20, y), small.clone()))
            .map_err(failed)?;
    }
    Ok(())
}

fn draw_chart(area: &DrawingArea<SVGBackend<'_>, Shift>, curves: &[Curve]) -> Result<(), String> {
    let ys = curves.iter().flat_map(|c| c.points.iter().map(|p| p.1));
    let (low, high) = ys.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let y_range = LogMs(low / 1.25..high * 1.25);
    let mut chart = ChartBuilder::on(area)
        .margin(20)
        .margin_right(45)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(Nines, y_range)
        .map_err(failed)?;
    chart
        .configure_mesh()
        .x_desc("percentile (log scale of 1 / (1 - q))")
        .y_desc("latency (ms, log scale)")
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .label_style(("sans-serif", 17))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(failed)?;
    for (i, c) in curves.iter().enumerate() {
        let (r, g, b) = COLOURS[i % COLOURS.len()];
        let style = RGBColor(r, g, b).stroke_width(2);
        let points = c.points.iter().copied();
        let series = match i < COLOURS.len() {
            true => chart.draw_series(LineSeries::new(points, style)),
            false => chart.draw_series(DashedLineSeries::new(points, 8, 4, style)),
        };
        series
            .map_err(failed)?
            .label(c.label.as_str())
            .legend(move |(x, y)| match i < COLOURS.len() {
                true => PathElement::new(vec![(x, y), (x + 24, y)], style),
                false => PathElement::new(vec![(x, y), (x + 8, y)], style),
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 17))
        .draw()
        .map_err(failed)
}
