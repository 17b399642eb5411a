//! Line charts (linear or logarithmic axes) and histograms.

use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{padded_log_range, padded_range, Area, Panel, PlotResult, FONT};

/// How a [`Line`] is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LineStyle {
    Solid,
    Dashed,
    /// Points only, as small filled circles.
    Markers,
    /// A solid line with a circle at each point.
    LineMarkers,
}

/// One series of a [`LineChart`]. Only series with a label appear in the legend (give many
/// paths of one kind one label, on the first of them).
#[derive(Clone, Debug)]
pub struct Line {
    pub label: Option<String>,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    pub width: u32,
    pub style: LineStyle,
    /// Opacity in [0, 1].
    pub alpha: f64,
}

impl Line {
    /// A solid line, 2 pixels wide, unlabelled.
    pub fn new(points: Vec<(f64, f64)>, color: RGBColor) -> Line {
        Line {
            label: None,
            points,
            color,
            width: 2,
            style: LineStyle::Solid,
            alpha: 1.0,
        }
    }
    pub fn label(mut self, label: impl Into<String>) -> Line {
        self.label = Some(label.into());
        self
    }
    pub fn style(mut self, style: LineStyle) -> Line {
        self.style = style;
        self
    }
    pub fn width(mut self, width: u32) -> Line {
        self.width = width;
        self
    }
    pub fn alpha(mut self, alpha: f64) -> Line {
        self.alpha = alpha;
        self
    }
}

/// Several series against shared axes, each axis linear or logarithmic.
#[derive(Clone, Debug, Default)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub lines: Vec<Line>,
    pub log_x: bool,
    pub log_y: bool,
    /// Axis ranges; `None` fits the data (positive data only, on a log axis).
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
    /// Where the legend goes (upper left unless set).
    pub legend: Option<SeriesLabelPosition>,
}

impl LineChart {
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> LineChart {
        LineChart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..Default::default()
        }
    }
    pub fn line(mut self, line: Line) -> LineChart {
        self.lines.push(line);
        self
    }
    pub fn log_log(mut self) -> LineChart {
        self.log_x = true;
        self.log_y = true;
        self
    }
    pub fn x_range(mut self, lo: f64, hi: f64) -> LineChart {
        self.x_range = Some((lo, hi));
        self
    }
    pub fn y_range(mut self, lo: f64, hi: f64) -> LineChart {
        self.y_range = Some((lo, hi));
        self
    }
    pub fn legend_at(mut self, pos: SeriesLabelPosition) -> LineChart {
        self.legend = Some(pos);
        self
    }

    fn range(
        &self,
        fixed: Option<(f64, f64)>,
        log: bool,
        pick: impl Fn(&(f64, f64)) -> f64,
    ) -> (f64, f64) {
        fixed.unwrap_or_else(|| {
            let values = self.lines.iter().flat_map(|l| l.points.iter().map(&pick));
            if log {
                padded_log_range(values)
            } else {
                padded_range(values)
            }
        })
    }

    fn draw_in<X, Y>(&self, area: &Area, x: X, y: Y) -> PlotResult
    where
        X: AsRangedCoord<Value = f64>,
        Y: AsRangedCoord<Value = f64>,
        X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let mut chart = chart_builder(area, &self.title).build_cartesian_2d(x, y)?;
        let (log_x, log_y) = (self.log_x, self.log_y);
        let fx = move |v: &f64| tick_label(*v, log_x);
        let fy = move |v: &f64| tick_label(*v, log_y);
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 13))
            .light_line_style(WHITE)
            .x_label_formatter(&fx)
            .y_label_formatter(&fy)
            .draw()?;
        let mut labelled = false;
        for line in &self.lines {
            let color = line.color.mix(line.alpha);
            let stroke = color.stroke_width(line.width);
            let pts = line.points.iter().copied();
            let anno = match line.style {
                LineStyle::Solid => chart.draw_series(LineSeries::new(pts, stroke))?,
                LineStyle::Dashed => chart.draw_series(DashedLineSeries::new(pts, 8, 5, stroke))?,
                LineStyle::Markers => chart
                    .draw_series(pts.map(|p| Circle::new(p, line.width + 1, color.filled())))?,
                LineStyle::LineMarkers => {
                    chart.draw_series(LineSeries::new(pts.clone(), stroke))?;
                    chart
                        .draw_series(pts.map(|p| Circle::new(p, line.width + 2, color.filled())))?
                }
            };
            if let Some(label) = &line.label {
                labelled = true;
                let style = line.style;
                anno.label(label.as_str())
                    .legend(move |(x, y)| match style {
                        LineStyle::Markers => {
                            Circle::new((x + 10, y), 4, color.filled()).into_dyn()
                        }
                        _ => PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                            .into_dyn(),
                    });
            }
        }
        if labelled {
            draw_legend(
                &mut chart,
                self.legend
                    .clone()
                    .unwrap_or(SeriesLabelPosition::UpperLeft),
            )?;
        }
        Ok(())
    }
}

impl Panel for LineChart {
    fn draw(&self, area: &Area) -> PlotResult {
        let (x0, x1) = self.range(self.x_range, self.log_x, |p| p.0);
        let (y0, y1) = self.range(self.y_range, self.log_y, |p| p.1);
        match (self.log_x, self.log_y) {
            (false, false) => self.draw_in(area, x0..x1, y0..y1),
            (true, false) => self.draw_in(area, (x0..x1).log_scale(), y0..y1),
            (false, true) => self.draw_in(area, x0..x1, (y0..y1).log_scale()),
            (true, true) => self.draw_in(area, (x0..x1).log_scale(), (y0..y1).log_scale()),
        }
    }
}

/// A tick label: short scientific notation on a log axis ("1e-3", "3e2"), else a plain
/// number with no more digits than it needs.
fn tick_label(v: f64, log: bool) -> String {
    if log {
        let s = format!("{v:.0e}");
        return s.replace("e0", "");
    }
    let r = (v * 1e6).round() / 1e6;
    if r.abs() >= 1e5 || (r != 0.0 && r.abs() < 1e-3) {
        format!("{r:.1e}")
    } else {
        format!("{r}")
    }
}

/// Histograms of one or more samples, normalised as densities (area 1), drawn translucent over
/// each other, optionally with reference curves (e.g. the true density) on top.
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    pub title: String,
    pub x_label: String,
    /// `(label, values, color)` for each sample.
    pub samples: Vec<(String, Vec<f64>, RGBColor)>,
    pub curves: Vec<Line>,
    pub bins: usize,
    /// The binned range; `None` fits the samples.
    pub range: Option<(f64, f64)>,
    /// The density axis' upper end; `None` fits the bars and curves.
    pub y_max: Option<f64>,
}

impl Histogram {
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, bins: usize) -> Histogram {
        Histogram {
            title: title.into(),
            x_label: x_label.into(),
            bins,
            ..Default::default()
        }
    }
    pub fn sample(
        mut self,
        label: impl Into<String>,
        values: Vec<f64>,
        color: RGBColor,
    ) -> Histogram {
        self.samples.push((label.into(), values, color));
        self
    }
    pub fn curve(mut self, line: Line) -> Histogram {
        self.curves.push(line);
        self
    }
    pub fn range(mut self, lo: f64, hi: f64) -> Histogram {
        self.range = Some((lo, hi));
        self
    }
    pub fn y_max(mut self, y_max: f64) -> Histogram {
        self.y_max = Some(y_max);
        self
    }

    /// Bar heights (densities) of each sample over `bins` equal bins of `[lo, hi)`; values
    /// outside are left out (but still count in the normalisation).
    pub fn densities(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<f64> {
        let w = (hi - lo) / bins as f64;
        let mut counts = vec![0.0; bins];
        for &v in values {
            let b = ((v - lo) / w).floor();
            if b >= 0.0 && (b as usize) < bins {
                counts[b as usize] += 1.0;
            }
        }
        let n = values.len().max(1) as f64;
        counts.iter().map(|c| c / (n * w)).collect()
    }
}

impl Panel for Histogram {
    fn draw(&self, area: &Area) -> PlotResult {
        assert!(self.bins > 0, "Histogram::draw: 0 bins");
        let (lo, hi) = self
            .range
            .unwrap_or_else(|| padded_range(self.samples.iter().flat_map(|s| s.1.iter().copied())));
        let heights: Vec<Vec<f64>> = self
            .samples
            .iter()
            .map(|s| Histogram::densities(&s.1, lo, hi, self.bins))
            .collect();
        let top = self.y_max.unwrap_or_else(|| {
            let bars = heights.iter().flatten().copied();
            let curves = self
                .curves
                .iter()
                .flat_map(|l| l.points.iter().map(|p| p.1));
            1.1 * bars.chain(curves).fold(1e-12, f64::max)
        });
        let mut chart = chart_builder(area, &self.title)
            .build_cartesian_2d::<RangedCoordf64, RangedCoordf64>(
                (lo..hi).into(),
                (0.0..top).into(),
            )?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc("density")
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 13))
            .light_line_style(WHITE)
            .draw()?;
        let w = (hi - lo) / self.bins as f64;
        for ((label, _, color), h) in self.samples.iter().zip(&heights) {
            let color = *color;
            let bars = h.iter().enumerate().map(|(i, &d)| {
                let x = lo + i as f64 * w;
                Rectangle::new([(x, 0.0), (x + w, d)], color.mix(0.45).filled())
            });
            chart
                .draw_series(bars)?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 16, y + 5)], color.mix(0.45).filled())
                });
        }
        for line in &self.curves {
            let stroke = line.color.mix(line.alpha).stroke_width(line.width);
            let anno = chart.draw_series(LineSeries::new(line.points.iter().copied(), stroke))?;
            if let Some(label) = &line.label {
                anno.label(label.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], stroke));
            }
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}

/// The frame every chart shares: a title and room for the axis labels.
pub(super) fn chart_builder<'a, 'b>(
    area: &'a Area<'b>,
    title: &str,
) -> ChartBuilder<'a, 'b, BitMapBackend<'b>> {
    let mut b = ChartBuilder::on(area);
    b.margin(12).x_label_area_size(48).y_label_area_size(62);
    if !title.is_empty() {
        b.caption(title, (FONT, 19));
    }
    b
}

pub(super) fn draw_legend<'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    pos: SeriesLabelPosition,
) -> PlotResult {
    chart
        .configure_series_labels()
        .position(pos)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.5))
        .draw()?;
    Ok(())
}
