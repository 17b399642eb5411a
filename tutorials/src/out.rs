//! What every chapter writes: a folder (`--out DIR`, by default `out/<chapter>`) of figures and
//! `samples.safetensors` (the chapter's final samples as tensor `samples`, `[N, D]`), and at the
//! end a list of the files written.

use std::path::{Path, PathBuf};

use engine::checkpoint::Checkpoint;
use engine::Tensor;

use crate::plot::{self, Area, Panel, PlotResult};

/// The default output folder of a chapter: `out/<chapter>`.
pub fn default_dir(chapter: &str) -> PathBuf {
    Path::new("out").join(chapter)
}

/// A chapter's output folder and the files written to it so far.
pub struct Output {
    dir: PathBuf,
    written: Vec<PathBuf>,
}

impl Output {
    /// Creates `dir` (and its parents) if needed; the error names the folder and the reason.
    pub fn create(dir: impl AsRef<Path>) -> Result<Output, String> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create the output folder {}: {e}", dir.display()))?;
        Ok(Output {
            dir,
            written: Vec::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `name` in the folder, recorded as written (for files the chapter writes itself).
    pub fn file(&mut self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        self.written.push(p.clone());
        p
    }

    /// One chart as `name` (a .png), `size` pixels.
    pub fn png(&mut self, name: &str, size: (u32, u32), panel: &dyn Panel) -> PlotResult {
        plot::save_png(self.file(name), size, panel)
    }

    /// Small multiples as `name`: see [`plot::save_grid`].
    pub fn grid(
        &mut self,
        name: &str,
        title: &str,
        cols: usize,
        panel_size: (u32, u32),
        panels: &[&dyn Panel],
    ) -> PlotResult {
        plot::save_grid(self.file(name), title, cols, panel_size, panels)
    }

    /// An animation as `name` (a .gif): see [`plot::save_gif`].
    pub fn gif(
        &mut self,
        name: &str,
        size: (u32, u32),
        delay_ms: u32,
        frames: usize,
        draw: impl FnMut(usize, &Area) -> PlotResult,
    ) -> PlotResult {
        plot::save_gif(self.file(name), size, delay_ms, frames, draw)
    }

    /// Writes `samples.safetensors` with the tensor `samples` ([N, D]).
    pub fn samples(&mut self, samples: &Tensor) -> engine::Result<()> {
        assert_eq!(
            samples.shape().len(),
            2,
            "Output::samples: samples must be [N, D], got {:?}",
            samples.shape()
        );
        let mut ck = Checkpoint::new();
        ck.insert("samples", samples);
        ck.save(self.file("samples.safetensors"))
    }

    /// Prints the files written, one per line.
    pub fn print_written(&self) {
        println!("\nwrote {} files:", self.written.len());
        for p in &self.written {
            println!("  {}", p.display());
        }
    }
}
