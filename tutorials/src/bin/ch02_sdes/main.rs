//! Chapter 2: stochastic differential equations dX = u_t(X) dt + sigma_t dW, simulated with
//! Euler-Maruyama: Brownian motion, the Ornstein-Uhlenbeck process and Langevin dynamics, which
//! carries any starting cloud of points to a target density p using only its score.
//!
//!     cargo run --release -p tutorials --bin ch02_sdes
//!
//! Legend: N = particles, S = saved snapshots, D = dimension (1 or 2).

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use engine::{Device, Tensor};
use models::density::{Density, Sampleable};
use models::dynamics::{BrownianMotion, Langevin, OrnsteinUhlenbeck};
use models::gaussian::Gaussian;
use models::mixture::GaussianMixture;
use models::simulate::{simulate_with_trajectory, time_grid, EulerMaruyama, Simulator};
use plotters::chart::SeriesLabelPosition;
use plotters::style::BLACK;
use tutorials::out::Output;
use tutorials::plot::{
    color, pairs, DensityGrid, Histogram, Line, LineChart, LineStyle, Panel, Points, Scatter,
};
use tutorials::progress::training_bar;

#[derive(Parser)]
#[command(about = "Chapter 2: Brownian motion, Ornstein-Uhlenbeck, Langevin dynamics")]
struct Args {
    /// Euler-Maruyama steps of each simulation (Brownian motion: 500 over [0, 5]).
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Particles for the measured variances (the plots show 10 of them).
    #[arg(long, default_value_t = 1000)]
    particles: usize,
    /// Langevin particles.
    #[arg(long, default_value_t = 1000)]
    langevin_samples: usize,
    /// Langevin noise level sigma.
    #[arg(long, default_value_t = 0.6)]
    langevin_sigma: f32,
    /// Langevin time horizon (t in [0, T]).
    #[arg(long, default_value_t = 5.0)]
    langevin_t: f32,
    /// Frames of the Langevin GIF.
    #[arg(long, default_value_t = 50)]
    gif_frames: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "out/ch02_sdes")]
    out: PathBuf,
    /// A tiny run (for tests): few steps, particles and frames.
    #[arg(long)]
    quick: bool,
}

/// The mixture with its closed-form score (`score_exact`) instead of autodiff through
/// `log_density`: the same vector field, fewer kernels per step.
struct ClosedFormScore<'a>(&'a GaussianMixture);

impl Density for ClosedFormScore<'_> {
    fn log_density(&self, x: &Tensor) -> Tensor {
        self.0.log_density(x)
    }
    fn score(&self, x: &Tensor) -> Tensor {
        self.0.score_exact(x)
    }
}

fn main() {
    let mut args = Args::parse();
    if args.quick {
        args.steps = args.steps.min(100);
        args.particles = args.particles.min(100);
        args.langevin_samples = args.langevin_samples.min(200);
        args.gif_frames = args.gif_frames.min(5);
    }
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Paths of particle `n` from a trajectory [N, S, 1] read back as `data`, against `times` [S].
fn path(data: &[f32], n: usize, times: &[f64]) -> Vec<(f64, f64)> {
    let s = times.len();
    times
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, data[n * s + i] as f64))
        .collect()
}

/// The variance over particles of the last snapshot of a trajectory [N, S, 1] read back as `data`.
fn final_variance(data: &[f32], n: usize, s: usize) -> f64 {
    let last: Vec<f64> = (0..n).map(|i| data[i * s + s - 1] as f64).collect();
    let mean = last.iter().sum::<f64>() / n as f64;
    last.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64
}

/// `n` starts evenly spaced in [-10, 10]: [n, 1].
fn starts(dev: &Device, n: usize) -> Tensor {
    Tensor::linspace(dev, -10.0, 10.0, n).reshape(&[n, 1])
}

/// Simulates `sim` from x0 [N, 1] over [0, t1] in `steps` steps, saving about 200 snapshots:
/// (times [S], trajectory [N, S, 1] read back).
fn run_1d(
    dev: &Device,
    sim: &impl Simulator,
    x0: &Tensor,
    t1: f32,
    steps: usize,
) -> (Vec<f64>, Vec<f32>) {
    let every = (steps / 200).max(1);
    let ts = time_grid(dev, 0.0, t1, steps);
    let traj = simulate_with_trajectory(sim, x0, &ts, every);
    let all = ts.to_vec();
    let mut times: Vec<f64> = all.iter().step_by(every).map(|&t| t as f64).collect();
    if !steps.is_multiple_of(every) {
        times.push(t1 as f64);
    }
    (times, traj.to_vec())
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let dev = Device::new()?;
    println!("adapter: {}", dev.describe());
    dev.manual_seed(args.seed);
    let mut out = Output::create(&args.out)?;
    let clock = Instant::now();
    let mut summary = Vec::new();

    // 1. Brownian motion, sigma = 1, t in [0, 5], 500 steps: 5 paths drawn, all measured.
    let bm_steps = args.steps / 2;
    let n = args.particles.max(5);
    let (times, data) = run_1d(
        &dev,
        &EulerMaruyama(BrownianMotion { sigma: 1.0 }),
        &Tensor::zeros(&dev, &[n, 1]),
        5.0,
        bm_steps,
    );
    let mut chart = LineChart::new("Brownian motion dX = σ dW, σ = 1: five paths", "t", "X_t")
        .legend_at(SeriesLabelPosition::UpperLeft);
    for p in 0..5 {
        let line = Line::new(path(&data, p, &times), color(p)).width(1);
        chart = chart.line(if p == 0 { line.label("paths") } else { line });
    }
    let env = |sign: f64| {
        times
            .iter()
            .map(|&t| (t, sign * t.sqrt()))
            .collect::<Vec<_>>()
    };
    chart = chart
        .line(
            Line::new(env(1.0), BLACK)
                .style(LineStyle::Dashed)
                .label("±√t (one standard deviation)"),
        )
        .line(Line::new(env(-1.0), BLACK).style(LineStyle::Dashed));
    out.png("brownian.png", (800, 500), &chart)?;
    let var = final_variance(&data, n, times.len());
    summary.push(format!(
        "Brownian motion: Var[X_5] over {n} paths = {var:.3} (theory σ² t = 5)"
    ));

    // 2. Ornstein-Uhlenbeck as in lab 1: theta = 0.25, sigma in {0, 0.25, 0.5, 1}, 10 starts
    // in [-10, 10], T = 20.
    let theta = 0.25;
    let mut panels = Vec::new();
    for (k, &sigma) in [0.0f32, 0.25, 0.5, 1.0].iter().enumerate() {
        let ou = OrnsteinUhlenbeck { theta, sigma };
        let (times, data) = run_1d(
            &dev,
            &EulerMaruyama(ou),
            &starts(&dev, 10),
            20.0,
            args.steps,
        );
        let mut chart = LineChart::new(format!("σ = {sigma}"), "t", "X_t").y_range(-11.0, 11.0);
        for p in 0..10 {
            chart = chart.line(Line::new(path(&data, p, &times), color(k)).width(1));
        }
        panels.push(chart);
    }
    let refs: Vec<&dyn Panel> = panels.iter().map(|p| p as &dyn Panel).collect();
    out.grid(
        "ou.png",
        "Ornstein-Uhlenbeck dX = -θ X dt + σ dW, θ = 0.25, 10 starts in [-10, 10]",
        4,
        (380, 360),
        &refs,
    )?;

    // 3. Only D = sigma^2 / (2 theta) sets the stationary spread: a 3x3 grid over sigma
    // (rows) and D (columns), theta = sigma^2 / (2D), time rescaled to theta t in [0, 10].
    let mut panels = Vec::new();
    let mut table = Vec::new();
    for &sigma in &[1.0f32, 2.0, 10.0] {
        for &d in &[0.25f32, 1.0, 4.0] {
            let theta = sigma * sigma / (2.0 * d);
            let ou = OrnsteinUhlenbeck { theta, sigma };
            let (times, data) = run_1d(
                &dev,
                &EulerMaruyama(ou),
                &starts(&dev, n),
                10.0 / theta,
                args.steps,
            );
            let rescaled: Vec<f64> = times.iter().map(|t| t * theta as f64).collect();
            let mut chart =
                LineChart::new(format!("σ = {sigma}, D = {d} (θ = {theta})"), "θ t", "X_t")
                    .y_range(-11.0, 11.0);
            for p in (0..n).step_by((n / 10).max(1)).take(10) {
                chart =
                    chart.line(Line::new(path(&data, p, &rescaled), color(p * 10 / n)).width(1));
            }
            let band = |s: f64| {
                rescaled
                    .iter()
                    .map(|&t| (t, s * 2.0 * (d as f64).sqrt()))
                    .collect::<Vec<_>>()
            };
            chart = chart
                .line(Line::new(band(1.0), BLACK).style(LineStyle::Dashed))
                .line(Line::new(band(-1.0), BLACK).style(LineStyle::Dashed));
            panels.push(chart);
            table.push((sigma, d, theta, final_variance(&data, n, times.len())));
        }
    }
    let refs: Vec<&dyn Panel> = panels.iter().map(|p| p as &dyn Panel).collect();
    let title = "OU over σ (rows) and D = σ²/(2θ) (columns), time rescaled; dashed: ±2√D";
    out.grid("ou_grid.png", title, 3, (420, 340), &refs)?;
    summary.push(format!(
        "OU stationary variance at θt = 10 over {n} paths (theory D):"
    ));
    for (sigma, d, theta, var) in &table {
        summary.push(format!(
            "  σ = {sigma:>4}, θ = {theta:>6.3}, D = {d:>4}: measured {var:.3}"
        ));
    }

    // 4. OU is Langevin dynamics for a Gaussian target: theta = 0.25, sigma = 1 is Langevin
    // with p = N(0, D), D = sigma^2 / (2 theta) = 2. Same start, same noise (same seed).
    let (theta, sigma) = (0.25f32, 1.0f32);
    let d = sigma * sigma / (2.0 * theta);
    let x0 = starts(&dev, n);
    dev.manual_seed(args.seed + 1);
    let (times, ou) = run_1d(
        &dev,
        &EulerMaruyama(OrnsteinUhlenbeck { theta, sigma }),
        &x0,
        20.0,
        args.steps,
    );
    dev.manual_seed(args.seed + 1);
    let target = Gaussian::isotropic(1, d.sqrt());
    let (_, lv) = run_1d(
        &dev,
        &EulerMaruyama(Langevin {
            density: target,
            sigma,
        }),
        &x0,
        20.0,
        args.steps,
    );
    let max_diff = ou
        .iter()
        .zip(&lv)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let mut chart = LineChart::new(
        "OU (θ = 0.25, σ = 1) and Langevin for N(0, 2), same noise",
        "t",
        "X_t",
    )
    .legend_at(SeriesLabelPosition::UpperRight);
    for p in (0..n).step_by((n / 5).max(1)).take(5) {
        let a = Line::new(path(&ou, p, &times), color(0))
            .width(3)
            .alpha(0.5);
        let b = Line::new(path(&lv, p, &times), color(1))
            .width(1)
            .style(LineStyle::Dashed);
        chart = if p == 0 {
            chart
                .line(a.label("OU"))
                .line(b.label("Langevin, N(0, σ²/(2θ))"))
        } else {
            chart.line(a).line(b)
        };
    }
    out.png("ou_is_langevin.png", (800, 500), &chart)?;
    summary.push(format!(
        "OU vs Langevin for N(0, {d}) from the same {n} starts with the same noise: max |difference| over the paths = {max_diff:.2e}; \
         Var at t = 20: OU {:.3}, Langevin {:.3} (theory {d} (1 - e^-10))",
        final_variance(&ou, n, times.len()),
        final_variance(&lv, n, times.len())
    ));

    // 5. Langevin dynamics from N(0, 20 I) to a mixture of 5 Gaussians.
    let mixture = GaussianMixture::random_2d(5, 0.75, 15.0, 3);
    let lim = (-12.0, 12.0);
    let g = 120;
    let grid_pts = Tensor::from_vec(&dev, DensityGrid::points(lim, lim, g), &[g * g, 2]);
    let density = DensityGrid::new(lim, lim, g, mixture.log_density(&grid_pts).to_vec());
    let m = args.langevin_samples;
    dev.manual_seed(args.seed + 2);
    let mut x = Gaussian::isotropic(2, 20f32.sqrt()).sample(&dev, m); // [M, 2]
    let sim = EulerMaruyama(Langevin {
        density: ClosedFormScore(&mixture),
        sigma: args.langevin_sigma,
    });
    let ts = time_grid(&dev, 0.0, args.langevin_t, args.steps).to_vec();
    let shown = [0, args.steps / 10, args.steps * 2 / 5, args.steps];
    let frame_every = (args.steps / args.gif_frames.max(1)).max(1);
    let (mut snaps, mut frames) = (Vec::new(), Vec::new()); // (t, [M, 2] read back)
    let bar = training_bar(args.steps as u64, 0);
    bar.set_message("Langevin");
    for i in 0..=args.steps {
        if shown.contains(&i) {
            snaps.push((ts[i], x.to_vec()));
        }
        if i % frame_every == 0 || i == args.steps {
            frames.push((ts[i], x.to_vec()));
        }
        if i < args.steps {
            x = engine::no_grad(|| sim.step(&x, ts[i], ts[i + 1] - ts[i]));
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let scatters: Vec<Scatter> = snaps
        .iter()
        .map(|(t, xy)| {
            Scatter::new(format!("t = {t:.2}"))
                .over(&density)
                .points(Points::new(pairs(xy), color(3)).alpha(0.5))
        })
        .collect();
    let refs: Vec<&dyn Panel> = scatters.iter().map(|p| p as &dyn Panel).collect();
    let title = format!(
        "Langevin dynamics, σ = {}, {m} particles from N(0, 20 I) to a mixture of 5 Gaussians",
        args.langevin_sigma
    );
    out.grid("langevin.png", &title, 4, (400, 400), &refs)?;

    // Marginal of x1: histogram against the mixture's own marginal sum_k w_k N(mu_k1, cov_k11).
    let marginal: Vec<(f64, f64)> = (0..=300)
        .map(|i| {
            let v = lim.0 + (lim.1 - lim.0) * i as f64 / 300.0;
            let p = mixture
                .components()
                .iter()
                .zip(mixture.weights())
                .map(|(c, &w)| {
                    let (mu, var) = (c.mean()[0] as f64, c.cov()[0] as f64);
                    w as f64 * (-(v - mu).powi(2) / (2.0 * var)).exp()
                        / (2.0 * std::f64::consts::PI * var).sqrt()
                });
            (v, p.sum())
        })
        .collect();
    let y_top = 1.6 * marginal.iter().map(|p| p.1).fold(0.0, f64::max);
    let hists: Vec<Histogram> = snaps
        .iter()
        .map(|(t, xy)| {
            let x1: Vec<f64> = xy.chunks(2).map(|p| p[0] as f64).collect();
            Histogram::new(format!("t = {t:.2}"), "x1", 60)
                .range(lim.0, lim.1)
                .y_max(y_top)
                .sample("particles", x1, color(3))
                .curve(Line::new(marginal.clone(), BLACK).label("target marginal"))
        })
        .collect();
    let refs: Vec<&dyn Panel> = hists.iter().map(|p| p as &dyn Panel).collect();
    out.grid(
        "langevin_marginal.png",
        "Langevin dynamics: the marginal of x1 over time",
        4,
        (400, 340),
        &refs,
    )?;

    out.gif("langevin.gif", (520, 520), 120, frames.len(), |i, area| {
        let (t, xy) = &frames[i];
        Scatter::new(format!("Langevin dynamics, t = {t:.2}"))
            .over(&density)
            .points(Points::new(pairs(xy), color(3)).alpha(0.6))
            .draw(area)
    })?;

    out.samples(&x)?;
    let modes = mixture.mode_of(&x);
    let counts: Vec<usize> = (0..5)
        .map(|k| modes.iter().filter(|&&j| j == k).count())
        .collect();
    let mean_logp = mixture.log_density(&x).mean_all().item();
    summary.push(format!(
        "Langevin: {m} particles at t = {}: per nearest mode {counts:?} (weights equal); mean log p = {mean_logp:.3}",
        args.langevin_t
    ));

    println!("\nran in {:.1} s\n", clock.elapsed().as_secs_f64());
    for line in &summary {
        println!("{line}");
    }
    out.print_written();
    Ok(())
}
