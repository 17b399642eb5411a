//! Grayscale images laid out in a labelled grid, written as a PNG: MNIST samples one row per
//! class, or one image noised along a path, one column per time.
//!
//! Legend: R = rows, C = columns, H, W = image size. Pixel values are in [-1, 1] (the models'
//! scale: -1 is background, black; 1 is ink, white) and clamped to it.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::plot::{init_fonts, PlotResult, FONT};

/// R x C images of H x W pixels, row-major, with labels for the rows, the columns and the
/// whole picture (any of them may be empty).
pub struct ImageGrid<'a> {
    /// [R * C, H, W] pixels in [-1, 1], image (r, c) at index r * C + c.
    pub pixels: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    /// (H, W)
    pub size: (usize, usize),
    /// Each image pixel becomes `scale` x `scale` PNG pixels.
    pub scale: u32,
    pub title: String,
    /// One per row (drawn at the left), or none.
    pub row_labels: Vec<String>,
    /// One per column (drawn above), or none.
    pub col_labels: Vec<String>,
}

/// Pixels between neighbouring images.
const GAP: u32 = 4;

impl ImageGrid<'_> {
    /// Writes the grid as a PNG at `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> PlotResult {
        let (h, w) = self.size;
        let (r, c) = (self.rows, self.cols);
        assert!(
            self.pixels.len() == r * c * h * w && r > 0 && c > 0,
            "ImageGrid: {} pixels for {r} x {c} images of {h} x {w}",
            self.pixels.len()
        );
        assert!(
            (self.row_labels.is_empty() || self.row_labels.len() == r)
                && (self.col_labels.is_empty() || self.col_labels.len() == c),
            "ImageGrid: {} row labels and {} column labels for {r} x {c} images",
            self.row_labels.len(),
            self.col_labels.len()
        );
        init_fonts();
        let (cell_w, cell_h) = (w as u32 * self.scale, h as u32 * self.scale);
        let left = if self.row_labels.is_empty() { GAP } else { 64 };
        let top = GAP
            + if self.title.is_empty() { 0 } else { 34 }
            + if self.col_labels.is_empty() { 0 } else { 22 };
        // Wide enough for the title (about 12 pixels per character at 24 px).
        let title_w = 12 * self.title.chars().count() as u32 + 2 * GAP;
        let size = (
            (left + c as u32 * (cell_w + GAP)).max(title_w),
            top + r as u32 * (cell_h + GAP),
        );
        let path = path.as_ref();
        let root = BitMapBackend::new(path, size).into_drawing_area();
        root.fill(&WHITE)?;
        let text = |s: &str, x: u32, y: u32, px: u32, anchor: Pos| {
            let style = TextStyle::from((FONT, px).into_font()).pos(anchor);
            root.draw_text(s, &style, (x as i32, y as i32))
        };
        if !self.title.is_empty() {
            text(
                &self.title,
                size.0 / 2,
                8,
                24,
                Pos::new(HPos::Center, VPos::Top),
            )?;
        }
        for (j, label) in self.col_labels.iter().enumerate() {
            let x = left + j as u32 * (cell_w + GAP) + cell_w / 2;
            text(label, x, top - 4, 16, Pos::new(HPos::Center, VPos::Bottom))?;
        }
        for (i, label) in self.row_labels.iter().enumerate() {
            let y = top + i as u32 * (cell_h + GAP) + cell_h / 2;
            text(label, left - 8, y, 18, Pos::new(HPos::Right, VPos::Center))?;
        }
        for (k, img) in self.pixels.chunks_exact(h * w).enumerate() {
            let x0 = left + (k % c) as u32 * (cell_w + GAP);
            let y0 = top + (k / c) as u32 * (cell_h + GAP);
            for (p, &v) in img.iter().enumerate() {
                let g = gray(v);
                let (px, py) = (
                    x0 + (p % w) as u32 * self.scale,
                    y0 + (p / w) as u32 * self.scale,
                );
                let corner = |dx: u32, dy: u32| ((px + dx) as i32, (py + dy) as i32);
                let rect =
                    Rectangle::new([corner(0, 0), corner(self.scale, self.scale)], g.filled());
                root.draw(&rect)?;
            }
        }
        root.present()
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok(())
    }
}

/// A value in [-1, 1] (clamped) as a gray level: -1 black, 1 white.
pub fn gray(v: f32) -> RGBColor {
    let g = ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
    RGBColor(g, g, g)
}
