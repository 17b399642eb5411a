//! Shared pieces of the chapters: progress bars, terminal plots, PNG/GIF charts and the
//! chapters' output folder; `toy` holds what the 2-D chapters 3-5 share.

pub mod image_grid;
pub mod mnist_eval;
pub mod out;
pub mod plot;
pub mod progress;
pub mod term_plot;
pub mod toy;
