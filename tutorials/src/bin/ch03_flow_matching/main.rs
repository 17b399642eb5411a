//! Chapter 3: flow matching. A conditional probability path p_t(x | z) carries N(0, I) to one
//! data point z, with a conditional vector field u_t(x | z) we can write down; regressing an
//! MLP u_theta(x, t) on u_t(x | z) for random t, z and x ~ p_t(. | z) learns the *marginal*
//! field u_t(x) = E[u_t(x | z) | x_t = x], whose flow carries noise to the data distribution.
//!
//!     cargo run --release -p tutorials --bin ch03_flow_matching
//!
//! Legend: N = points, S = saved snapshots, D = 2.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use engine::{no_grad, Device, Tensor};
use models::datasets::{symmetric_mixture, Checkerboard, Circles};
use models::density::{Density, Sampleable};
use models::dynamics::Ode;
use models::fields::MlpVectorField;
use models::gaussian::Gaussian;
use models::guidance::LangevinFlowSde;
use models::likelihood::{energy_distance, log_likelihood, Divergence, Scheme};
use models::marginal::{relative_l2_error, MixtureMarginal};
use models::path::{full_time, ConditionalPath, GaussianPath, LinearPath};
use models::simulate::{simulate_with_trajectory, time_grid, Euler, EulerMaruyama};
use models::train::{flow_matching_loss, TrainReport};
use plotters::chart::SeriesLabelPosition;
use tutorials::out::Output;
use tutorials::plot::{color, pairs, Line, LineChart, Panel, Points, Scatter};
use tutorials::toy::{
    arrow_grid, density_grid, quiver_panel, scatter_panel, smoothed, snapshot, train_with_bar,
    trajectory_chart,
};

#[derive(Parser)]
#[command(
    about = "Chapter 3: flow matching on 2-D data (Gaussian and linear paths), exact-field errors, likelihoods"
)]
struct Args {
    /// Flow-matching steps on the mixture (lab 2: 5000).
    #[arg(long, default_value_t = 5000)]
    steps: usize,
    /// Batch size on the mixture (lab 2: 1000).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Adam learning rate (lab 2: 1e-3).
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Samples drawn from each trained model.
    #[arg(long, default_value_t = 5000)]
    samples: usize,
    /// Euler steps when sampling the mixture model (lab 2: 1000).
    #[arg(long, default_value_t = 1000)]
    sample_steps: usize,
    /// Steps of Gaussian -> checkerboard (lab 2: 10000).
    #[arg(long, default_value_t = 3000)]
    checker_steps: usize,
    /// Steps of circles -> checkerboard (lab 2: 20000).
    #[arg(long, default_value_t = 3000)]
    circles_steps: usize,
    /// Batch size of the two linear-path runs (lab 2: 2000).
    #[arg(long, default_value_t = 1000)]
    linear_batch: usize,
    /// Euler steps when sampling the linear-path models (lab 2: 100).
    #[arg(long, default_value_t = 100)]
    linear_sample_steps: usize,
    /// Held-out points for the log-likelihood.
    #[arg(long, default_value_t = 1000)]
    ll_points: usize,
    /// RK4 steps of the likelihood ODE (backwards from t = 1 to 0).
    #[arg(long, default_value_t = 100)]
    ll_steps: usize,
    /// Points per side of the energy distance (all pairs: N^2 work on the CPU).
    #[arg(long, default_value_t = 2000)]
    metric_points: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "out/ch03_flow_matching")]
    out: PathBuf,
    /// A tiny run (for tests): a few hundred steps and points.
    #[arg(long)]
    quick: bool,
}

fn main() {
    let mut args = Args::parse();
    if args.quick {
        args.steps = args.steps.min(150);
        args.batch = args.batch.min(256);
        args.samples = args.samples.min(500);
        args.sample_steps = args.sample_steps.min(100);
        args.checker_steps = args.checker_steps.min(60);
        args.circles_steps = args.circles_steps.min(60);
        args.linear_batch = args.linear_batch.min(256);
        args.linear_sample_steps = args.linear_sample_steps.min(50);
        args.ll_points = args.ll_points.min(100);
        args.ll_steps = args.ll_steps.min(10);
        args.metric_points = args.metric_points.min(300);
    }
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The conditional vector field u_t(x | z) of a Gaussian path for fixed endpoints z [N, D], as an ODE.
struct ConditionalField<'a> {
    path: &'a GaussianPath,
    z: &'a Tensor,
}

impl Ode for ConditionalField<'_> {
    fn drift(&self, x: &Tensor, t: f32) -> Tensor {
        self.path
            .conditional_vector_field(x, self.z, &full_time(x.device(), x.dim(0), t))
    }
}

/// The conditional score grad log p_t(x | z) for fixed z [N, D], as an ODE-like field.
struct ConditionalScore<'a> {
    path: &'a GaussianPath,
    z: &'a Tensor,
}

impl Ode for ConditionalScore<'_> {
    fn drift(&self, x: &Tensor, t: f32) -> Tensor {
        self.path
            .conditional_score(x, self.z, &full_time(x.device(), x.dim(0), t))
    }
}

/// One linear-path run: (figure file, name, p_init, hidden sizes, steps).
type LinearRun<'a> = (&'a str, &'a str, &'a dyn Sampleable, Vec<usize>, usize);

/// The mean distance of the rows of x [N, 2] (read back) to the point z.
fn mean_distance(x: &[f32], z: (f32, f32)) -> f64 {
    let n = x.len() / 2;
    x.chunks(2)
        .map(|p| ((p[0] - z.0) as f64).hypot((p[1] - z.1) as f64))
        .sum::<f64>()
        / n as f64
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

    // 1. One conditional path: p_t(x | z) for a fixed z, its field, and ODE/SDE paths to z.
    let z = (8.0f32, 6.0f32);
    let clim = (-4.0, 12.0);
    let m = 500;
    let mut path_chart =
        Scatter::new(format!("p_t(x | z), z = ({}, {})", z.0, z.1)).range(clim, clim);
    for (k, &t) in [0.0f32, 0.25, 0.5, 0.75, 1.0].iter().enumerate() {
        let zs = Tensor::from_vec(&dev, [z.0, z.1].repeat(m), &[m, 2]);
        let x = path
            .sample_conditional_path(&zs, &full_time(&dev, m, t))
            .to_vec();
        let size = if t == 1.0 { 5 } else { 1 }; // t = 1: every point is z
        path_chart = path_chart.points(
            Points::new(pairs(&x), color(k))
                .size(size)
                .label(format!("t = {t}")),
        );
    }
    let (starts, grid_pts) = arrow_grid(&dev, clim, 16);
    let kk = starts.len();
    let zk = Tensor::from_vec(&dev, [z.0, z.1].repeat(kk), &[kk, 2]);
    let ugrid = path
        .conditional_vector_field(&grid_pts, &zk, &full_time(&dev, kk, 0.5))
        .to_vec();
    let cond_density = density_grid(&dev, clim, 60, |x| {
        // p_t(x | z) at t = 0.5: N(alpha z, beta^2 I)
        let (a, b) = (path.alpha(0.5), path.beta(0.5));
        Gaussian::spherical(vec![a * z.0, a * z.1], b).log_density(x)
    });
    let field_chart = quiver_panel(
        "u_t(x | z) at t = 0.5 over p_t(x | z)".into(),
        &starts,
        &[("", ugrid, 0)],
        &cond_density,
    );
    let n_paths = 40;
    let zs = Tensor::from_vec(&dev, [z.0, z.1].repeat(n_paths), &[n_paths, 2]);
    let x0 = Tensor::randn(&dev, &[n_paths, 2]);
    let ts = time_grid(&dev, 0.0, 1.0, 1000);
    let cond = ConditionalField {
        path: &path,
        z: &zs,
    };
    let ode = simulate_with_trajectory(&Euler(&cond), &x0, &ts, 10).to_vec();
    let sigma = 1.0;
    let sde_model = LangevinFlowSde {
        flow: &cond,
        score: ConditionalScore {
            path: &path,
            z: &zs,
        },
        sigma,
    };
    let sde = simulate_with_trajectory(&EulerMaruyama(&sde_model), &x0, &ts, 10).to_vec();
    let last = ode.len() / (2 * n_paths) - 1;
    let (d_ode, d_sde) = (
        mean_distance(&snapshot(&ode, n_paths, last), z),
        mean_distance(&snapshot(&sde, n_paths, last), z),
    );
    let ode_chart = trajectory_chart(
        "conditional ODE dx = u_t(x | z) dt",
        &ode,
        n_paths,
        n_paths,
        clim,
    );
    let sde_chart = trajectory_chart(
        format!("conditional SDE, Langevin-corrected, σ = {sigma}"),
        &sde,
        n_paths,
        n_paths,
        clim,
    );
    let panels: [&dyn Panel; 4] = [&path_chart, &field_chart, &ode_chart, &sde_chart];
    let title = "The Gaussian conditional path x_t = t z + √(1-t) ε to one point z (lab 2)";
    out.grid("conditional_path.png", title, 2, (520, 500), &panels)?;
    summary.push(format!(
        "conditional paths to z = ({}, {}) with 1000 Euler(-Maruyama) steps: mean |x_1 - z| = {d_ode:.4} (ODE), {d_sde:.4} (SDE, σ = {sigma})",
        z.0, z.1
    ));

    // 2. Flow matching on the symmetric mixture with the Gaussian path.
    let field = MlpVectorField::new(&dev, 2, &models::fields::DEFAULT_HIDDEN);
    println!(
        "model: MLP [x, t] 3 -> 64 x 4 -> 2 (SiLU), {} parameters",
        field.num_params()
    );
    let rep = train_with_bar(
        "mixture FM",
        &field.param_tensors(),
        args.lr,
        args.steps,
        |_| flow_matching_loss(&field, &path, &data.sample(&dev, args.batch)),
    );
    summary.push(format!(
        "mixture FM: {} steps at {:.1} steps/s, loss {:.3} -> {:.3}",
        args.steps,
        rep.steps_per_sec,
        rep.mean_first(50),
        rep.mean_last(100)
    ));
    let mut reports: Vec<(&str, TrainReport)> = vec![("Gaussian path, mixture", rep)];

    let n = args.samples;
    let every = (args.sample_steps / 50).max(1);
    let t0 = Instant::now();
    let traj = simulate_with_trajectory(
        &Euler(&field),
        &Tensor::randn(&dev, &[n, 2]),
        &time_grid(&dev, 0.0, 1.0, args.sample_steps),
        every,
    );
    let traj = traj.to_vec();
    let sample_secs = t0.elapsed().as_secs_f64();
    let s = traj.len() / (2 * n);
    let samples = snapshot(&traj, n, s - 1);
    let lim = (-15.0, 15.0);
    let data_density = density_grid(&dev, lim, 120, |x| data.log_density(x));
    let truth = data.sample(&dev, n).to_vec();
    let gt = scatter_panel("ground truth", &truth, 2, lim, Some(&data_density));
    let gen = scatter_panel(
        format!("samples ({} Euler steps)", args.sample_steps),
        &samples,
        3,
        lim,
        Some(&data_density),
    );
    let tr = trajectory_chart("trajectories (200 shown)", &traj, n, 200, lim);
    let panels: [&dyn Panel; 3] = [&gt, &gen, &tr];
    out.grid(
        "mixture.png",
        "Flow matching on the symmetric mixture (Gaussian path, lab 2)",
        3,
        (480, 470),
        &panels,
    )?;
    let snaps: Vec<Scatter> = [0.0, 0.25, 0.5, 0.75, 1.0]
        .iter()
        .map(|&t: &f64| {
            let k = ((t * (s - 1) as f64).round() as usize).min(s - 1);
            scatter_panel(format!("t = {t}"), &snapshot(&traj, n, k), 3, lim, None)
        })
        .collect();
    let refs: Vec<&dyn Panel> = snaps.iter().map(|p| p as &dyn Panel).collect();
    out.grid(
        "mixture_marginals.png",
        "The learned flow's marginals p_t, from N(0, I) to the mixture",
        5,
        (360, 350),
        &refs,
    )?;
    out.samples(&Tensor::from_vec(&dev, samples.clone(), &[n, 2]))?;
    summary.push(format!(
        "  sampled {n} points with {} Euler steps in {sample_secs:.1} s",
        args.sample_steps
    ));

    // The learned field against the exact marginal field, on points x ~ p_t.
    summary.push("  relative L2 error ||u_theta - u_t|| / ||u_t|| on 2000 points x ~ p_t:".into());
    let mut errs = Vec::new();
    for &t in &[0.1f32, 0.25, 0.5, 0.75, 0.9, 0.99] {
        let x = marginal.at(t).sample(&dev, 2000);
        let learned = no_grad(|| field.forward(&x, &full_time(&dev, 2000, t)));
        let err = relative_l2_error(&learned, &marginal.vector_field(&x, t));
        errs.push(format!("t = {t}: {err:.3}"));
    }
    summary.push(format!("    {}", errs.join(", ")));
    let (starts, grid_pts) = arrow_grid(&dev, lim, 15);
    let kk = starts.len();
    let mut fields = Vec::new();
    let mut densities = Vec::new();
    for &t in &[0.2f32, 0.5, 0.8, 0.95] {
        densities.push(density_grid(&dev, lim, 90, |x| marginal.log_density(x, t)));
        let learned = no_grad(|| field.forward(&grid_pts, &full_time(&dev, kk, t))).to_vec();
        fields.push((t, learned, marginal.vector_field(&grid_pts, t).to_vec()));
    }
    let quivers: Vec<_> = fields
        .iter()
        .zip(&densities)
        .map(|((t, l, e), d)| {
            quiver_panel(
                format!("t = {t}"),
                &starts,
                &[("exact u_t", e.clone(), 7), ("learned", l.clone(), 3)],
                d,
            )
        })
        .collect();
    let refs: Vec<&dyn Panel> = quivers.iter().map(|p| p as &dyn Panel).collect();
    out.grid(
        "mixture_field.png",
        "Learned field (red) against the exact marginal field (grey) over p_t",
        4,
        (440, 440),
        &refs,
    )?;

    // Sample quality: energy distance to fresh ground truth, beside the truth-vs-truth floor.
    let k = args.metric_points.min(n);
    let mine = Tensor::from_vec(&dev, samples[..2 * k].to_vec(), &[k, 2]);
    let (fresh_a, fresh_b) = (data.sample(&dev, k), data.sample(&dev, k));
    summary.push(format!(
        "  energy distance to {k} fresh data points: model {:.4}, data vs data {:.4} (the floor at this sample size)",
        energy_distance(&mine, &fresh_a),
        energy_distance(&fresh_b, &fresh_a)
    ));

    // Negative log-likelihood of held-out points: the flow (exact divergence and Hutchinson)
    // against the true mixture.
    let held_out = data.sample(&dev, args.ll_points);
    let p0 = Gaussian::isotropic(2, 1.0);
    let t0 = Instant::now();
    let ll = log_likelihood(
        &field,
        &p0,
        &held_out,
        args.ll_steps,
        Scheme::Rk4,
        Divergence::Exact,
    )
    .mean_all()
    .item();
    let ll_secs = t0.elapsed().as_secs_f64();
    let hutch = Divergence::Hutchinson {
        probes: 1,
        rademacher: true,
    };
    let ll_h = log_likelihood(&field, &p0, &held_out, args.ll_steps, Scheme::Rk4, hutch)
        .mean_all()
        .item();
    let ll_true = data.log_density(&held_out).mean_all().item();
    summary.push(format!(
        "  NLL of {} held-out points (nats/point, RK4 {} steps back to t = 0): flow {:.3} (exact divergence, {ll_secs:.1} s), \
         {:.3} (Hutchinson, 1 Rademacher probe); true mixture {:.3}",
        args.ll_points, args.ll_steps, -ll, -ll_h, -ll_true
    ));

    // 3. The linear path x_t = (1 - t) x0 + t z: Gaussian -> checkerboard, circles -> checkerboard.
    let checker = Checkerboard::default();
    let gauss = Gaussian::isotropic(2, 1.0);
    let circles = Circles::default();
    let runs: [LinearRun; 2] = [
        (
            "checkerboard.png",
            "N(0, I) -> checkerboard",
            &gauss,
            vec![64; 4],
            args.checker_steps,
        ),
        (
            "circles_to_checkerboard.png",
            "circles -> checkerboard",
            &circles,
            vec![100; 4],
            args.circles_steps,
        ),
    ];
    let llim = (-7.0, 7.0);
    for (file, name, source, hidden, steps) in runs {
        let lpath = LinearPath::new(source);
        let net = MlpVectorField::new(&dev, 2, &hidden);
        let rep = train_with_bar(name, &net.param_tensors(), args.lr, steps, |_| {
            flow_matching_loss(&net, &lpath, &checker.sample(&dev, args.linear_batch))
        });
        let every = (args.linear_sample_steps / 50).max(1);
        let x0 = source.sample(&dev, n);
        let traj = simulate_with_trajectory(
            &Euler(&net),
            &x0,
            &time_grid(&dev, 0.0, 1.0, args.linear_sample_steps),
            every,
        )
        .to_vec();
        let s = traj.len() / (2 * n);
        let out_pts = snapshot(&traj, n, s - 1);
        let src = scatter_panel("source p_init", &x0.to_vec(), 0, llim, None);
        let gt = scatter_panel(
            "target (checkerboard)",
            &checker.sample(&dev, n).to_vec(),
            2,
            llim,
            None,
        );
        let gen = scatter_panel(
            format!("samples ({} Euler steps)", args.linear_sample_steps),
            &out_pts,
            3,
            llim,
            None,
        );
        let tr = trajectory_chart("trajectories (200 shown)", &traj, n, 200, llim);
        let panels: [&dyn Panel; 4] = [&src, &gt, &gen, &tr];
        let hs = hidden
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()
            .join("x");
        out.grid(
            file,
            &format!("Linear path {name} (MLP [{hs}], {steps} steps)"),
            4,
            (420, 420),
            &panels,
        )?;
        let k = args.metric_points.min(n);
        let mine = Tensor::from_vec(&dev, out_pts[..2 * k].to_vec(), &[k, 2]);
        let (a, b) = (checker.sample(&dev, k), checker.sample(&dev, k));
        summary.push(format!(
            "linear path {name}: {steps} steps at {:.1} steps/s, loss {:.3} -> {:.3}; energy distance model {:.4}, data vs data {:.4}",
            rep.steps_per_sec,
            rep.mean_first(50),
            rep.mean_last(100),
            energy_distance(&mine, &a),
            energy_distance(&b, &a)
        ));
        reports.push((
            if file.starts_with("checker") {
                "linear path, N(0, I) -> checkerboard"
            } else {
                "linear path, circles -> checkerboard"
            },
            rep,
        ));
    }

    let mut chart = LineChart::new(
        "Flow-matching loss (mean over 25-step windows)",
        "step",
        "loss",
    )
    .legend_at(SeriesLabelPosition::UpperRight);
    chart.log_y = true;
    for (i, (name, rep)) in reports.iter().enumerate() {
        chart = chart.line(Line::new(smoothed(&rep.losses, 25), color(i)).label(*name));
    }
    out.png("losses.png", (800, 500), &chart)?;

    println!("\nran in {:.1} s\n", clock.elapsed().as_secs_f64());
    for line in &summary {
        println!("{line}");
    }
    out.print_written();
    Ok(())
}
