//! Shared pieces of the chapters: progress bars, terminal plots, PNG/GIF charts and the
//! chapters' output folder.

pub mod out;
pub mod plot;
pub mod progress;
pub mod term_plot;
