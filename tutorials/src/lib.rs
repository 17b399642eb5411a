//! Shared pieces of the chapters: progress bars, terminal plots.

pub mod progress;
pub mod term_plot;
