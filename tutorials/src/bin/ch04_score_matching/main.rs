//! Chapter 4: score matching. Regressing s_theta(x, t) on the conditional score
//! grad log p_t(x | z) (denoising score matching) learns the marginal score grad log p_t(x).
//! For a Gaussian path, score and velocity determine each other, so a flow-matching model also
//! gives a score and a score model a velocity; with both, the Langevin-corrected flow SDE
//! dX = [u_t + sigma^2/2 s_t] dt + sigma dW samples the data for any sigma.
//!
//!     cargo run --release -p tutorials --bin ch04_score_matching
//!
//! Legend: N = points, D = 2.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use engine::{no_grad, Device, Tensor};
use models::datasets::symmetric_mixture;
use models::density::{Density, Sampleable};
use models::dynamics::Ode;
use models::fields::{MlpVectorField, DEFAULT_HIDDEN};
use models::guidance::{LangevinFlowSde, ScoreFromVelocity, VelocityFromScore};
use models::likelihood::energy_distance;
use models::marginal::{relative_l2_error, MixtureMarginal};
use models::path::{full_time, GaussianPath};
use models::simulate::{simulate_with_trajectory, time_grid, EulerMaruyama};
use models::train::{flow_matching_loss, score_matching_loss, ScoreWeighting};
use plotters::chart::SeriesLabelPosition;
use tutorials::out::Output;
use tutorials::plot::{color, Line, LineChart, Panel};
use tutorials::toy::{
    arrow_grid, density_grid, quiver_panel, scatter_panel, smoothed, snapshot, train_with_bar,
    trajectory_chart,
};

#[derive(Parser)]
#[command(
    about = "Chapter 4: denoising score matching, score <-> velocity, the Langevin-corrected flow SDE"
)]
struct Args {
    /// Denoising-score-matching steps (lab 2: 1000).
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Flow-matching steps of the model whose score we compare with (lab 2 trains it 5000).
    #[arg(long, default_value_t = 2000)]
    fm_steps: usize,
    /// Batch size (lab 2: 1000).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Adam learning rate (lab 2: 1e-3).
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Train on the plain DSM loss instead of the beta_t^2-weighted one.
    #[arg(long)]
    plain: bool,
    /// Noise level of the Langevin-corrected flow SDE (lab 2: 2).
    #[arg(long, default_value_t = 2.0)]
    sigma: f32,
    /// Euler-Maruyama steps over t in [0.01, 1] (lab 2: 300).
    #[arg(long, default_value_t = 300)]
    sample_steps: usize,
    /// Samples drawn.
    #[arg(long, default_value_t = 2000)]
    samples: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "out/ch04_score_matching")]
    out: PathBuf,
    /// A tiny run (for tests): a hundred steps, a few hundred samples.
    #[arg(long)]
    quick: bool,
}

fn main() {
    let mut args = Args::parse();
    if args.quick {
        args.steps = args.steps.min(100);
        args.fm_steps = args.fm_steps.min(100);
        args.batch = args.batch.min(256);
        args.sample_steps = args.sample_steps.min(60);
        args.samples = args.samples.min(300);
    }
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The exact marginal score grad log p_t(x) as an ODE-like field.
struct ExactScore<'a>(&'a MixtureMarginal);

impl Ode for ExactScore<'_> {
    fn drift(&self, x: &Tensor, t: f32) -> Tensor {
        self.0.score(x, t)
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let dev = Device::new()?;
    println!("adapter: {}", dev.describe());
    dev.manual_seed(args.seed);
    let mut out = Output::create(&args.out)?;
    let clock = Instant::now();
    let mut summary = Vec::new();
    let path = GaussianPath::sqrt_beta();
    let data = symmetric_mixture();
    let marginal = MixtureMarginal::new(data.clone(), path.clone());

    // 1. Denoising score matching and, for comparison, flow matching, on the same data.
    let weighting = if args.plain {
        ScoreWeighting::Plain
    } else {
        ScoreWeighting::BetaSquared
    };
    let score = MlpVectorField::new(&dev, 2, &DEFAULT_HIDDEN);
    let dsm = train_with_bar("DSM", &score.param_tensors(), args.lr, args.steps, |_| {
        score_matching_loss(&score, &path, &data.sample(&dev, args.batch), weighting)
    });
    let flow = MlpVectorField::new(&dev, 2, &DEFAULT_HIDDEN);
    let fm = train_with_bar("FM", &flow.param_tensors(), args.lr, args.fm_steps, |_| {
        flow_matching_loss(&flow, &path, &data.sample(&dev, args.batch))
    });
    summary.push(format!(
        "DSM ({weighting:?} weighting): {} steps at {:.1} steps/s, loss {:.3} -> {:.3}",
        args.steps,
        dsm.steps_per_sec,
        dsm.mean_first(50),
        dsm.mean_last(100)
    ));
    summary.push(format!(
        "FM: {} steps at {:.1} steps/s, loss {:.3} -> {:.3}",
        args.fm_steps,
        fm.steps_per_sec,
        fm.mean_first(50),
        fm.mean_last(100)
    ));
    let chart = LineChart::new(
        "Training losses (mean over 25-step windows)",
        "step",
        "loss",
    )
    .legend_at(SeriesLabelPosition::UpperRight)
    .line(Line::new(smoothed(&dsm.losses, 25), color(0)).label(format!("DSM ({weighting:?})")))
    .line(Line::new(smoothed(&fm.losses, 25), color(1)).label("flow matching"));
    out.png("losses.png", (800, 500), &chart)?;

    // 2. Learned scores against the exact marginal score: numbers on x ~ p_t, arrows on a grid.
    let from_fm = ScoreFromVelocity {
        velocity: &flow,
        path: path.clone(),
    };
    summary.push(
        "relative L2 error against the exact score grad log p_t on 2000 points x ~ p_t:".into(),
    );
    summary.push(format!(
        "  {:>5} {:>12} {:>12} {:>14}",
        "t", "DSM", "from FM", "DSM vs FM"
    ));
    for &t in &[0.1f32, 0.25, 0.5, 0.75, 0.9] {
        let x = marginal.at(t).sample(&dev, 2000);
        let exact = marginal.score(&x, t);
        let (s_dsm, s_fm) = no_grad(|| {
            (
                score.forward(&x, &full_time(&dev, 2000, t)),
                from_fm.drift(&x, t),
            )
        });
        summary.push(format!(
            "  {t:>5} {:>12.3} {:>12.3} {:>14.3}",
            relative_l2_error(&s_dsm, &exact),
            relative_l2_error(&s_fm, &exact),
            relative_l2_error(&s_dsm, &s_fm)
        ));
    }
    let lim = (-15.0, 15.0);
    let (starts, grid_pts) = arrow_grid(&dev, lim, 15);
    let kk = starts.len();
    let times = [0.2f32, 0.4, 0.6, 0.8];
    let densities: Vec<_> = times
        .iter()
        .map(|&t| density_grid(&dev, lim, 90, |x| marginal.log_density(x, t)))
        .collect();
    let mut rows = (Vec::new(), Vec::new());
    for (&t, d) in times.iter().zip(&densities) {
        let exact = marginal.score(&grid_pts, t).to_vec();
        let (s_dsm, s_fm) = no_grad(|| {
            (
                score.forward(&grid_pts, &full_time(&dev, kk, t)).to_vec(),
                from_fm.drift(&grid_pts, t).to_vec(),
            )
        });
        rows.0.push(quiver_panel(
            format!("DSM score, t = {t}"),
            &starts,
            &[("exact", exact.clone(), 7), ("DSM", s_dsm, 3)],
            d,
        ));
        rows.1.push(quiver_panel(
            format!("score from FM, t = {t}"),
            &starts,
            &[("exact", exact, 7), ("from FM", s_fm, 2)],
            d,
        ));
    }
    let refs: Vec<&dyn Panel> = rows
        .0
        .iter()
        .chain(&rows.1)
        .map(|p| p as &dyn Panel)
        .collect();
    let title = "Scores over p_t: denoising score matching (red, top) and converted from flow matching (green, bottom) against the exact score (grey)";
    out.grid("scores.png", title, 4, (440, 440), &refs)?;

    // 3. Sampling with the score model alone: its velocity by conversion, plus Langevin correction.
    let n = args.samples;
    let sde = LangevinFlowSde {
        flow: VelocityFromScore {
            score: &score,
            path: path.clone(),
        },
        score: &score,
        sigma: args.sigma,
    };
    let every = (args.sample_steps / 50).max(1);
    let ts = time_grid(&dev, 0.01, 1.0, args.sample_steps);
    let t0 = Instant::now();
    let traj = simulate_with_trajectory(
        &EulerMaruyama(&sde),
        &Tensor::randn(&dev, &[n, 2]),
        &ts,
        every,
    )
    .to_vec();
    let sample_secs = t0.elapsed().as_secs_f64();
    let s = traj.len() / (2 * n);
    let samples = snapshot(&traj, n, s - 1);
    // the same SDE with the exact score, as a reference for what sigma and the step count allow
    let exact_sde = LangevinFlowSde {
        flow: VelocityFromScore {
            score: ExactScore(&marginal),
            path: path.clone(),
        },
        score: ExactScore(&marginal),
        sigma: args.sigma,
    };
    let exact_samples = simulate_with_trajectory(
        &EulerMaruyama(&exact_sde),
        &Tensor::randn(&dev, &[n, 2]),
        &ts,
        args.sample_steps,
    )
    .to_vec();
    let exact_samples = snapshot(&exact_samples, n, 1);
    let data_density = density_grid(&dev, lim, 120, |x| data.log_density(x));
    let truth = data.sample(&dev, n).to_vec();
    let gt = scatter_panel("ground truth", &truth, 2, lim, Some(&data_density));
    let gen = scatter_panel(
        format!("learned score, σ = {}", args.sigma),
        &samples,
        3,
        lim,
        Some(&data_density),
    );
    let ex = scatter_panel(
        format!("exact score, σ = {}", args.sigma),
        &exact_samples,
        4,
        lim,
        Some(&data_density),
    );
    let tr = trajectory_chart("learned: trajectories (100 shown)", &traj, n, 100, lim);
    let panels: [&dyn Panel; 4] = [&gt, &gen, &ex, &tr];
    let title = format!("Langevin-corrected flow SDE from the score alone ({} Euler-Maruyama steps, t from 0.01 to 1)", args.sample_steps);
    out.grid("samples.png", &title, 4, (440, 440), &panels)?;
    out.samples(&Tensor::from_vec(&dev, samples.clone(), &[n, 2]))?;
    let mine = Tensor::from_vec(&dev, samples, &[n, 2]);
    let theirs = Tensor::from_vec(&dev, exact_samples, &[n, 2]);
    let (a, b) = (data.sample(&dev, n), data.sample(&dev, n));
    summary.push(format!(
        "Langevin-corrected SDE, σ = {}, {} steps: {n} samples in {sample_secs:.1} s; energy distance to fresh data: learned score {:.4}, \
         exact score {:.4}, data vs data {:.4}",
        args.sigma,
        args.sample_steps,
        energy_distance(&mine, &a),
        energy_distance(&theirs, &a),
        energy_distance(&b, &a)
    ));
    let modes = data.mode_of(&mine);
    let counts: Vec<usize> = (0..5)
        .map(|k| modes.iter().filter(|&&j| j == k).count())
        .collect();
    summary.push(format!(
        "  samples per nearest mode {counts:?} (weights equal)"
    ));

    println!("\nran in {:.1} s\n", clock.elapsed().as_secs_f64());
    for line in &summary {
        println!("{line}");
    }
    out.print_written();
    Ok(())
}
