//! The evaluation table: one row per guidance weight w, as Markdown (printed and saved as eval.md).

use std::cmp::Ordering;
use std::path::PathBuf;

/// What the evaluation measured on one samples file.
#[derive(Clone, Debug)]
pub struct EvalRow {
    /// The guidance weight as written in the file name (`samples_w{w}.safetensors`).
    pub w: String,
    pub file: PathBuf,
    /// Samples in the file.
    pub samples: usize,
    /// Samples with a digit label 0-9 (not the null label 10), the ones measured.
    pub labelled: usize,
    /// Fraction of the labelled samples the classifier reads as their intended digit.
    pub accuracy: Option<f64>,
    /// Fréchet distance of their features to as many real test digits (class for class).
    pub fd: Option<f64>,
    /// The same between two disjoint real sets of that size and class mix.
    pub floor: Option<f64>,
}

/// The w of a file named `samples_w{w}.safetensors` (any non-empty text), else None.
pub fn guidance_weight(file_name: &str) -> Option<String> {
    let w = file_name
        .strip_prefix("samples_w")?
        .strip_suffix(".safetensors")?;
    (!w.is_empty()).then(|| w.to_string())
}

/// Numeric order of weights that parse as numbers (first), then the others by text.
pub fn weight_order(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

/// The table as Markdown: `header`, one row per file, then the floor at each extra size.
pub fn markdown(header: &str, rows: &[EvalRow], floors: &[(usize, f64)]) -> String {
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map(f).unwrap_or_else(|| "-".into());
    let mut s = format!("{header}\n\n");
    s += "| w | samples | labelled | classifier agrees | FD to real | real-vs-real floor |\n";
    s += "| ---: | ---: | ---: | ---: | ---: | ---: |\n";
    for r in rows {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.w,
            r.samples,
            r.labelled,
            opt(r.accuracy, &|a| format!("{:.1}%", 100.0 * a)),
            opt(r.fd, &|d| format!("{d:.2}")),
            opt(r.floor, &|d| format!("{d:.2}")),
        );
    }
    if !floors.is_empty() {
        s += "\n| real set size | real-vs-real floor |\n| ---: | ---: |\n";
        for (n, d) in floors {
            s += &format!("| {n} | {d:.2} |\n");
        }
    }
    s
}
