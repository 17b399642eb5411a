//! Quiver plots: a vector field drawn as arrows at points of the plane, optionally over a
//! density (the same heatmap and contours as [`Scatter`](super::Scatter)). Several sets of arrows
//! (e.g. a learned field and the exact one) share one length scale, so they can be compared.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::charts::{chart_builder, draw_legend};
use super::scatter::draw_density;
use super::{padded_range, Area, DensityGrid, Panel, PlotResult, FONT};

/// One set of arrows of a [`Quiver`]: vector `vectors[i]` drawn from `starts[i]`.
#[derive(Clone, Debug)]
pub struct Arrows {
    pub label: Option<String>,
    pub starts: Vec<(f64, f64)>,
    pub vectors: Vec<(f64, f64)>,
    pub color: RGBColor,
    /// Line width in pixels.
    pub width: u32,
    pub alpha: f64,
}

impl Arrows {
    /// 2 pixels wide, opaque, unlabelled. Panics if the two lists differ in length.
    pub fn new(starts: Vec<(f64, f64)>, vectors: Vec<(f64, f64)>, color: RGBColor) -> Arrows {
        assert_eq!(
            starts.len(),
            vectors.len(),
            "Arrows::new: {} starts but {} vectors",
            starts.len(),
            vectors.len()
        );
        Arrows {
            label: None,
            starts,
            vectors,
            color,
            width: 2,
            alpha: 1.0,
        }
    }
    pub fn label(mut self, label: impl Into<String>) -> Arrows {
        self.label = Some(label.into());
        self
    }
    pub fn width(mut self, width: u32) -> Arrows {
        self.width = width;
        self
    }
    pub fn alpha(mut self, alpha: f64) -> Arrows {
        self.alpha = alpha;
        self
    }
}

/// Arrows in the plane. The length scale (data units drawn per unit of vector) is `scale`, or
/// else chosen so the 95th percentile of the vector norms over all sets spans 90% of the
/// spacing of a square grid holding the first set's arrows.
#[derive(Clone, Debug, Default)]
pub struct Quiver<'a> {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub sets: Vec<Arrows>,
    pub density: Option<&'a DensityGrid>,
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
    pub scale: Option<f64>,
}

impl<'a> Quiver<'a> {
    pub fn new(title: impl Into<String>) -> Quiver<'a> {
        Quiver {
            title: title.into(),
            x_label: "x1".into(),
            y_label: "x2".into(),
            ..Default::default()
        }
    }
    pub fn arrows(mut self, a: Arrows) -> Quiver<'a> {
        self.sets.push(a);
        self
    }
    pub fn over(mut self, density: &'a DensityGrid) -> Quiver<'a> {
        self.density = Some(density);
        self
    }
    pub fn range(mut self, x: (f64, f64), y: (f64, f64)) -> Quiver<'a> {
        self.x_range = Some(x);
        self.y_range = Some(y);
        self
    }
    /// Data units per unit of vector length (the same for every set).
    pub fn scale(mut self, scale: f64) -> Quiver<'a> {
        self.scale = Some(scale);
        self
    }

    /// The scale used when none is set (see [`Quiver`]).
    pub fn auto_scale(&self, x: (f64, f64), y: (f64, f64)) -> f64 {
        let mut norms: Vec<f64> = self
            .sets
            .iter()
            .flat_map(|s| s.vectors.iter().map(|v| v.0.hypot(v.1)))
            .filter(|n| n.is_finite())
            .collect();
        if norms.is_empty() {
            return 1.0;
        }
        norms.sort_by(|a, b| a.total_cmp(b));
        let p95 = norms[(norms.len() - 1) * 95 / 100].max(1e-12);
        let per_side = (self.sets.first().map_or(1, |s| s.starts.len()) as f64)
            .sqrt()
            .max(1.0);
        let spacing = ((x.1 - x.0) / per_side).min((y.1 - y.0) / per_side);
        0.9 * spacing / p95
    }
}

impl Panel for Quiver<'_> {
    fn draw(&self, area: &Area) -> PlotResult {
        let fit = |pick: fn(&(f64, f64)) -> f64| {
            padded_range(self.sets.iter().flat_map(|s| s.starts.iter().map(pick)))
        };
        let x = self
            .x_range
            .or(self.density.map(|d| d.x))
            .unwrap_or_else(|| fit(|p| p.0));
        let y = self
            .y_range
            .or(self.density.map(|d| d.y))
            .unwrap_or_else(|| fit(|p| p.1));
        let scale = self.scale.unwrap_or_else(|| self.auto_scale(x, y));
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
        // pixels per data unit along each axis, to draw arrow heads with the right angles
        let (pw, ph) = chart.plotting_area().dim_in_pixel();
        let (kx, ky) = (pw as f64 / (x.1 - x.0), ph as f64 / (y.1 - y.0));
        let mut labelled = false;
        for set in &self.sets {
            let style = set.color.mix(set.alpha).stroke_width(set.width);
            let mut paths = Vec::with_capacity(2 * set.starts.len());
            for (&(sx, sy), &(vx, vy)) in set.starts.iter().zip(&set.vectors) {
                if !(vx.is_finite() && vy.is_finite()) {
                    continue;
                }
                let tip = (sx + scale * vx, sy + scale * vy);
                paths.push(PathElement::new(vec![(sx, sy), tip], style));
                // the head in pixel space: two strokes of 30% of the arrow (at most 8 px), +-25 degrees
                let (dx, dy) = (scale * vx * kx, scale * vy * ky);
                let len = dx.hypot(dy);
                if len < 1.0 {
                    continue;
                }
                let head = (0.3 * len).min(8.0);
                let (ux, uy) = (dx / len, dy / len);
                let (c, s) = (25f64.to_radians().cos(), 25f64.to_radians().sin());
                let side = |sign: f64| {
                    let (hx, hy) = (
                        -(ux * c - sign * uy * s) * head,
                        -(sign * ux * s + uy * c) * head,
                    );
                    (tip.0 + hx / kx, tip.1 + hy / ky)
                };
                paths.push(PathElement::new(vec![side(1.0), tip, side(-1.0)], style));
            }
            let anno = chart.draw_series(paths)?;
            if let Some(label) = &set.label {
                labelled = true;
                let color = set.color;
                anno.label(label.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                });
            }
        }
        if labelled {
            draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
        Ok(())
    }
}
