//! Scatter plots of 2-D points, optionally over a density: a heatmap of p(x) with contour lines
//! of log p(x), both from values on a regular grid.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::charts::{chart_builder, draw_legend};
use super::{padded_range, Area, Panel, PlotResult, FONT};

/// A 2-D log-density sampled on an `n` x `n` grid over `x` x `y`.
#[derive(Clone, Debug)]
pub struct DensityGrid {
    pub x: (f64, f64),
    pub y: (f64, f64),
    pub n: usize,
    /// log p at the grid points: `log_p[j * n + i]` is at `(x_i, y_j)`, i.e. [n (y), n (x)].
    pub log_p: Vec<f32>,
}

impl DensityGrid {
    /// The grid points as a flat `[n*n, 2]` list (x fastest), ready for a tensor: evaluate the
    /// log-density there and pass the `n*n` values to [`DensityGrid::new`].
    pub fn points(x: (f64, f64), y: (f64, f64), n: usize) -> Vec<f32> {
        assert!(n >= 2, "DensityGrid::points: n = {n} < 2");
        let mut out = Vec::with_capacity(2 * n * n);
        for j in 0..n {
            for i in 0..n {
                out.push(lerp(x, i, n) as f32);
                out.push(lerp(y, j, n) as f32);
            }
        }
        out
    }

    pub fn new(x: (f64, f64), y: (f64, f64), n: usize, log_p: Vec<f32>) -> DensityGrid {
        assert_eq!(
            log_p.len(),
            n * n,
            "DensityGrid::new: {} values for a {n} x {n} grid",
            log_p.len()
        );
        DensityGrid { x, y, n, log_p }
    }

    fn at(&self, i: usize, j: usize) -> (f64, f64) {
        (lerp(self.x, i, self.n), lerp(self.y, j, self.n))
    }

    /// Contour segments of log p at `level`, by marching squares over the grid cells.
    pub fn contour(&self, level: f32) -> Vec<[(f64, f64); 2]> {
        let n = self.n;
        let v = |i: usize, j: usize| self.log_p[j * n + i];
        let mut segs = Vec::new();
        for j in 0..n - 1 {
            for i in 0..n - 1 {
                // corners counter-clockwise: (i,j) (i+1,j) (i+1,j+1) (i,j+1)
                let c = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)];
                let mut cuts = Vec::with_capacity(4);
                for e in 0..4 {
                    let (a, b) = (c[e], c[(e + 1) % 4]);
                    let (va, vb) = (v(a.0, a.1), v(b.0, b.1));
                    if (va < level) != (vb < level) {
                        let t = ((level - va) / (vb - va)) as f64;
                        let (pa, pb) = (self.at(a.0, a.1), self.at(b.0, b.1));
                        cuts.push((pa.0 + t * (pb.0 - pa.0), pa.1 + t * (pb.1 - pa.1)));
                    }
                }
                for pair in cuts.chunks_exact(2) {
                    segs.push([pair[0], pair[1]]);
                }
            }
        }
        segs
    }
}

fn lerp((lo, hi): (f64, f64), i: usize, n: usize) -> f64 {
    lo + (hi - lo) * i as f64 / (n - 1) as f64
}

/// One set of points of a [`Scatter`].
#[derive(Clone, Debug)]
pub struct Points {
    pub label: Option<String>,
    pub xy: Vec<(f64, f64)>,
    pub color: RGBColor,
    /// Radius in pixels.
    pub size: u32,
    pub alpha: f64,
}

impl Points {
    /// Radius 2, opacity 0.6, unlabelled.
    pub fn new(xy: Vec<(f64, f64)>, color: RGBColor) -> Points {
        Points {
            label: None,
            xy,
            color,
            size: 2,
            alpha: 0.6,
        }
    }
    pub fn label(mut self, label: impl Into<String>) -> Points {
        self.label = Some(label.into());
        self
    }
    pub fn size(mut self, size: u32) -> Points {
        self.size = size;
        self
    }
    pub fn alpha(mut self, alpha: f64) -> Points {
        self.alpha = alpha;
        self
    }
}

/// Points in the plane, optionally over a density (heatmap of p and contours of log p).
#[derive(Clone, Debug, Default)]
pub struct Scatter<'a> {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub sets: Vec<Points>,
    pub density: Option<&'a DensityGrid>,
    /// Axis ranges; `None` takes the density's grid, or else fits the points.
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
}

impl<'a> Scatter<'a> {
    pub fn new(title: impl Into<String>) -> Scatter<'a> {
        Scatter {
            title: title.into(),
            x_label: "x1".into(),
            y_label: "x2".into(),
            ..Default::default()
        }
    }
    pub fn points(mut self, p: Points) -> Scatter<'a> {
        self.sets.push(p);
        self
    }
    pub fn over(mut self, density: &'a DensityGrid) -> Scatter<'a> {
        self.density = Some(density);
        self
    }
    pub fn range(mut self, x: (f64, f64), y: (f64, f64)) -> Scatter<'a> {
        self.x_range = Some(x);
        self.y_range = Some(y);
        self
    }
}

impl Panel for Scatter<'_> {
    fn draw(&self, area: &Area) -> PlotResult {
        let fit = |pick: fn(&(f64, f64)) -> f64| {
            padded_range(self.sets.iter().flat_map(|s| s.xy.iter().map(pick)))
        };
        let x = self
            .x_range
            .or(self.density.map(|d| d.x))
            .unwrap_or_else(|| fit(|p| p.0));
        let y = self
            .y_range
            .or(self.density.map(|d| d.y))
            .unwrap_or_else(|| fit(|p| p.1));
        let mut chart = chart_builder(area, &self.title)
            .build_cartesian_2d::<RangedCoordf64, RangedCoordf64>(
                (x.0..x.1).into(),
                (y.0..y.1).into(),
            )?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 13))
            .disable_mesh()
            .draw()?;
        if let Some(d) = self.density {
            draw_density(&mut chart, d)?;
        }
        let mut labelled = false;
        for set in &self.sets {
            let style = set.color.mix(set.alpha).filled();
            let anno =
                chart.draw_series(set.xy.iter().map(|&p| Circle::new(p, set.size, style)))?;
            if let Some(label) = &set.label {
                labelled = true;
                let color = set.color;
                anno.label(label.as_str())
                    .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
            }
        }
        if labelled {
            draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
        Ok(())
    }
}

/// White to light blue by p / max p, then grey contour lines of log p, 2 nats apart below the
/// maximum.
pub(super) fn draw_density<'a>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    d: &DensityGrid,
) -> PlotResult {
    let n = d.n;
    let max = d.log_p.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (dx, dy) = (
        (d.x.1 - d.x.0) / (n - 1) as f64,
        (d.y.1 - d.y.0) / (n - 1) as f64,
    );
    let cells = (0..n * n).map(|k| {
        let (i, j) = (k % n, k / n);
        let (cx, cy) = d.at(i, j);
        let p = ((d.log_p[k] - max) as f64).exp(); // in (0, 1]
        let c = RGBColor((255.0 - 180.0 * p) as u8, (255.0 - 120.0 * p) as u8, 255);
        Rectangle::new(
            [
                (cx - dx / 2.0, cy - dy / 2.0),
                (cx + dx / 2.0, cy + dy / 2.0),
            ],
            c.filled(),
        )
    });
    chart.draw_series(cells)?;
    let contour = RGBColor(40, 40, 90).mix(0.55).stroke_width(1);
    for k in 1..=6 {
        let level = max - 2.0 * k as f32 + 1.0;
        chart.draw_series(
            d.contour(level)
                .into_iter()
                .map(|s| PathElement::new(s.to_vec(), contour)),
        )?;
    }
    Ok(())
}
