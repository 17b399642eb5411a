//! Pieces shared by the 2-D chapters (3-5): training with the progress bar, a density on a grid
//! for backgrounds, trajectory and quiver panels, and simple sample statistics.
//! Legend: N = points, S = saved snapshots.

use engine::{no_grad, Device, Tensor};
use models::train::{train, TrainReport};

use crate::plot::{
    color, pairs, Arrows, DensityGrid, Line, LineChart, LineStyle, Points, Quiver, Scatter,
};
use crate::progress::training_bar;

/// `models::train` (Adam, `steps` steps) with the progress bar: step, loss, steps/s, eta.
/// `name` is shown before the loss.
pub fn train_with_bar(
    name: &str,
    params: &[Tensor],
    lr: f32,
    steps: usize,
    loss: impl FnMut(usize) -> Tensor,
) -> TrainReport {
    let bar = training_bar(steps as u64, 0);
    bar.set_message(name.to_string());
    let report = train(params, lr, steps, loss, |p| {
        bar.inc(1);
        if p.step % 25 == 0 || p.step == p.steps {
            bar.set_message(format!("{name}: loss {:.4}", p.loss));
        }
    });
    bar.finish_and_clear();
    println!(
        "{name}: {steps} steps in {:.1} s ({:.1} steps/s); loss {:.4} (first 50 steps) -> {:.4} (last 100)",
        report.seconds,
        report.steps_per_sec,
        report.mean_first(50),
        report.mean_last(100)
    );
    report
}

/// log p on a `g` x `g` grid over `lim` x `lim`, for a heatmap background.
pub fn density_grid(
    dev: &Device,
    lim: (f64, f64),
    g: usize,
    log_p: impl Fn(&Tensor) -> Tensor,
) -> DensityGrid {
    let pts = Tensor::from_vec(dev, DensityGrid::points(lim, lim, g), &[g * g, 2]);
    DensityGrid::new(lim, lim, g, no_grad(|| log_p(&pts)).to_vec())
}

/// A `k` x `k` grid of points over `lim` x `lim` (inset by half a cell): the points and the
/// same as a tensor [k*k, 2].
pub fn arrow_grid(dev: &Device, lim: (f64, f64), k: usize) -> (Vec<(f64, f64)>, Tensor) {
    let cell = (lim.1 - lim.0) / k as f64;
    let at = |i: usize| lim.0 + cell * (i as f64 + 0.5);
    let pts: Vec<(f64, f64)> = (0..k * k).map(|n| (at(n % k), at(n / k))).collect();
    let flat: Vec<f32> = pts
        .iter()
        .flat_map(|&(x, y)| [x as f32, y as f32])
        .collect();
    (pts, Tensor::from_vec(dev, flat, &[k * k, 2]))
}

/// A quiver panel of `fields` (the first drawn wide and pale when there are several) (label, vectors [k*k, 2] read back, color) at `starts`, over `density`.
pub fn quiver_panel<'a>(
    title: String,
    starts: &[(f64, f64)],
    fields: &[(&str, Vec<f32>, usize)],
    density: &'a DensityGrid,
) -> Quiver<'a> {
    let mut q = Quiver::new(title).over(density);
    for (i, (label, v, c)) in fields.iter().enumerate() {
        // with several fields, the first (the reference) wide and pale under the others
        let wide = i == 0 && fields.len() > 1;
        let mut a = Arrows::new(starts.to_vec(), pairs(v), color(*c))
            .width(if wide { 3 } else { 1 })
            .alpha(if wide { 0.55 } else { 1.0 });
        if !label.is_empty() {
            a = a.label(*label);
        }
        q = q.arrows(a);
    }
    q
}

/// The first `count` paths of a trajectory [N, S, 2] (read back as `data`) as thin lines over
/// `lim`, with their start (grey) and end (red) points.
pub fn trajectory_chart(
    title: impl Into<String>,
    data: &[f32],
    n: usize,
    count: usize,
    lim: (f64, f64),
) -> LineChart {
    let s = data.len() / (2 * n);
    let mut chart = LineChart::new(title, "x1", "x2")
        .x_range(lim.0, lim.1)
        .y_range(lim.0, lim.1);
    let (mut starts, mut ends) = (Vec::new(), Vec::new());
    for p in 0..count.min(n) {
        let pts: Vec<(f64, f64)> = (0..s)
            .map(|k| {
                (
                    data[(p * s + k) * 2] as f64,
                    data[(p * s + k) * 2 + 1] as f64,
                )
            })
            .collect();
        starts.push(pts[0]);
        ends.push(pts[s - 1]);
        let line = Line::new(pts, color(0)).width(1).alpha(0.35);
        chart = chart.line(if p == 0 { line.label("paths") } else { line });
    }
    chart
        .line(
            Line::new(starts, color(7))
                .style(LineStyle::Markers)
                .width(1)
                .label("t = 0"),
        )
        .line(
            Line::new(ends, color(3))
                .style(LineStyle::Markers)
                .width(1)
                .label("t = 1"),
        )
}

/// A scatter of points [N, 2] (read back) over an optional density, in a fixed square range.
pub fn scatter_panel<'a>(
    title: impl Into<String>,
    xy: &[f32],
    c: usize,
    lim: (f64, f64),
    density: Option<&'a DensityGrid>,
) -> Scatter<'a> {
    let mut s = Scatter::new(title)
        .range(lim, lim)
        .points(Points::new(pairs(xy), color(c)).size(1).alpha(0.5));
    if let Some(d) = density {
        s = s.over(d);
    }
    s
}

/// The snapshot `k` of a trajectory [N, S, 2] read back as `data`: [N, 2] flat.
pub fn snapshot(data: &[f32], n: usize, k: usize) -> Vec<f32> {
    let s = data.len() / (2 * n);
    (0..n)
        .flat_map(|p| [data[(p * s + k) * 2], data[(p * s + k) * 2 + 1]])
        .collect()
}

/// A loss curve: the per-step losses averaged over windows of `every` steps.
pub fn smoothed(losses: &[f32], every: usize) -> Vec<(f64, f64)> {
    let every = every.max(1);
    losses
        .chunks(every)
        .enumerate()
        .map(|(i, c)| {
            (
                (i * every + c.len()) as f64,
                c.iter().map(|&v| v as f64).sum::<f64>() / c.len() as f64,
            )
        })
        .collect()
}
