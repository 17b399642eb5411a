//! Charts written as PNG files (and GIF animations), drawn with the `plotters` crate.
//!
//! Each chart type is a plain struct describing what to draw ([`LineChart`], [`Scatter`],
//! [`Histogram`], [`Quiver`]) and implements [`Panel`]: it draws itself, with axes, ticks, labels and a
//! legend, into any rectangle of a picture. So one chart is a picture ([`save_png`]), several
//! make small multiples ([`save_grid`]), and a sequence of them makes an animation
//! ([`save_gif`]).
//!
//! Text uses DejaVu Sans, embedded in the binary (`tutorials/assets/`, see its license note
//! there), so no system fonts are needed.
//!
//! Data is given as f64 pairs `(x, y)`; the chapters read tensors back with `to_vec()` and
//! convert (see [`pairs`]).

mod charts;
mod quiver;
mod scatter;

use std::error::Error;
use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, RGBColor};

pub use charts::{Histogram, Line, LineChart, LineStyle};
pub use quiver::{Arrows, Quiver};
pub use scatter::{DensityGrid, Points, Scatter};

/// A rectangle of a picture that a chart draws into.
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
/// Drawing can fail (a file that cannot be written, a bad range): the error says why.
pub type PlotResult<T = ()> = Result<T, Box<dyn Error>>;

/// Anything that can draw itself into a rectangle of a picture.
pub trait Panel {
    fn draw(&self, area: &Area) -> PlotResult;
}

/// The font family every chart uses (registered by [`init_fonts`]).
pub const FONT: &str = "sans-serif";

static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Registers the embedded font with plotters. Idempotent; every save function calls it.
pub fn init_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [
            FontStyle::Normal,
            FontStyle::Bold,
            FontStyle::Italic,
            FontStyle::Oblique,
        ] {
            if plotters::style::register_font(FONT, style, FONT_BYTES).is_err() {
                panic!("plot: the embedded DejaVuSans.ttf is not a valid font");
            }
        }
    });
}

/// Ten distinguishable colors (matplotlib's "tab10"): `color(i)` cycles through them.
pub fn color(i: usize) -> RGBColor {
    const TAB10: [(u8, u8, u8); 10] = [
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
    let (r, g, b) = TAB10[i % 10];
    RGBColor(r, g, b)
}

/// Rows of a `[N, 2]` tensor read back with `to_vec()` as points `(x, y)`.
pub fn pairs(flat: &[f32]) -> Vec<(f64, f64)> {
    assert!(
        flat.len().is_multiple_of(2),
        "plot::pairs: {} values is not a list of 2-D points",
        flat.len()
    );
    flat.chunks_exact(2)
        .map(|p| (p[0] as f64, p[1] as f64))
        .collect()
}

/// Draws one chart into a `width` x `height` PNG.
pub fn save_png(path: impl AsRef<Path>, size: (u32, u32), panel: &dyn Panel) -> PlotResult {
    init_fonts();
    let path = path.as_ref();
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    panel.draw(&root)?;
    root.present()
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(())
}

/// Small multiples: the panels in a grid of `cols` columns (row by row), each `panel_size`
/// pixels, under one title.
pub fn save_grid(
    path: impl AsRef<Path>,
    title: &str,
    cols: usize,
    panel_size: (u32, u32),
    panels: &[&dyn Panel],
) -> PlotResult {
    init_fonts();
    assert!(
        cols > 0 && !panels.is_empty(),
        "plot::save_grid: {} panels in {cols} columns",
        panels.len()
    );
    let rows = panels.len().div_ceil(cols);
    let title_h = if title.is_empty() { 0 } else { 40 };
    let size = (
        panel_size.0 * cols as u32,
        panel_size.1 * rows as u32 + title_h,
    );
    let path = path.as_ref();
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let body = if title.is_empty() {
        root.clone()
    } else {
        root.titled(title, (FONT, 26))?
    };
    for (area, panel) in body.split_evenly((rows, cols)).iter().zip(panels) {
        panel.draw(area)?;
    }
    root.present()
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(())
}

/// An animated GIF of `frames` frames, `delay_ms` apart: `draw(i, area)` draws frame `i`.
pub fn save_gif(
    path: impl AsRef<Path>,
    size: (u32, u32),
    delay_ms: u32,
    frames: usize,
    mut draw: impl FnMut(usize, &Area) -> PlotResult,
) -> PlotResult {
    init_fonts();
    let path = path.as_ref();
    let root = BitMapBackend::gif(path, size, delay_ms)
        .map_err(|e| format!("creating {}: {e}", path.display()))?
        .into_drawing_area();
    for i in 0..frames {
        root.fill(&WHITE)?;
        draw(i, &root)?;
        root.present()
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

/// A range covering `values` with 5% padding on each side (a unit range around a constant).
pub(crate) fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// A range covering the positive `values` on a log axis, padded by a factor 1.5.
pub(crate) fn padded_log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && *v > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.1, 10.0);
    }
    (lo / 1.5, hi * 1.5)
}
