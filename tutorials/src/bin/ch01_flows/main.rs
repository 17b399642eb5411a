//! Chapter 1: flows and their numerical solution. An ODE dx/dt = u_t(x) moves every point along
//! its vector field; the solution map psi_t(x0) is the flow. We solve a linear ODE whose flow is
//! known exactly with Euler, Heun and RK4 and measure how the error shrinks with the step size
//! (orders 1, 2 and 4), then watch a nonlinear flow warp a grid of the plane.
//!
//!     cargo run --release -p tutorials --bin ch01_flows
//!
//! Points are a batch x [N, D] on the GPU; one solver step is a few engine ops over the batch.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use engine::{Device, Tensor};
use models::dynamics::{LinearOde, Ode};
use models::simulate::{
    simulate, simulate_with_trajectory, time_grid, Euler, Heun, Rk4, Simulator,
};
use tutorials::out::Output;
use tutorials::plot::{color, Line, LineChart, LineStyle, Panel};

#[derive(Parser)]
#[command(about = "Chapter 1: flows, Euler/Heun/RK4 and their orders, a flow warping the plane")]
struct Args {
    /// Rate of the linear ODE dx/dt = -theta x (exact flow x0 e^{-theta t}).
    #[arg(long, default_value_t = 1.0)]
    theta: f32,
    /// Time horizon of the convergence study.
    #[arg(long, default_value_t = 4.0)]
    t_end: f32,
    /// Step counts 2, 4, ..., up to this many, for the convergence study.
    #[arg(long, default_value_t = 512)]
    max_steps: usize,
    /// Points integrated at once (the error is the largest over them).
    #[arg(long, default_value_t = 1000)]
    points: usize,
    /// Grid lines per direction in the warped grid.
    #[arg(long, default_value_t = 13)]
    grid_lines: usize,
    /// RK4 steps for the warped grid (over t in [0, 3]).
    #[arg(long, default_value_t = 300)]
    warp_steps: usize,
    /// Swirl rate omega of the nonlinear field.
    #[arg(long, default_value_t = 0.5)]
    omega: f32,
    /// Output folder.
    #[arg(long, default_value = "out/ch01_flows")]
    out: PathBuf,
    /// A tiny run (for tests): fewer steps and points.
    #[arg(long)]
    quick: bool,
}

/// The double well with a swirl: u(x) = (x1 - x1^3 - omega x2, omega x1 - x2). Points flow to
/// the two stable points x1 = +-sqrt(1 - omega^2), x2 = omega x1, spiralling in.
struct SwirlWell {
    /// (1, -1) [1, 2]: the linear part's diagonal.
    diag: Tensor,
    /// (-omega, omega) [1, 2]: multiplies (x2, x1).
    swirl: Tensor,
    /// (1, 0) [1, 2]: the cubic acts on x1 only.
    cubic: Tensor,
}

impl SwirlWell {
    fn new(dev: &Device, omega: f32) -> SwirlWell {
        SwirlWell {
            diag: Tensor::from_slice(dev, &[1.0, -1.0], &[1, 2]),
            swirl: Tensor::from_slice(dev, &[-omega, omega], &[1, 2]),
            cubic: Tensor::from_slice(dev, &[1.0, 0.0], &[1, 2]),
        }
    }
}

impl Ode for SwirlWell {
    fn drift(&self, x: &Tensor, _t: f32) -> Tensor {
        // x [N, 2]; swapped [N, 2] = (x2, x1)
        let swapped = x.index_select(1, &[1, 0]);
        let cube = x.square().mul(x).mul(&self.cubic);
        x.mul(&self.diag).add(&swapped.mul(&self.swirl)).sub(&cube)
    }
}

fn main() {
    let mut args = Args::parse();
    if args.quick {
        args.max_steps = args.max_steps.min(64);
        args.points = args.points.min(64);
        args.grid_lines = args.grid_lines.min(7);
        args.warp_steps = args.warp_steps.min(60);
    }
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Least-squares slope of log(err) against log(h).
fn fitted_slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (lx, ly): (Vec<f64>, Vec<f64>) = points.iter().map(|&(h, e)| (h.ln(), e.ln())).unzip();
    let (mx, my) = (lx.iter().sum::<f64>() / n, ly.iter().sum::<f64>() / n);
    let cov: f64 = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = lx.iter().map(|x| (x - mx).powi(2)).sum();
    cov / var
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let dev = Device::new()?;
    println!("adapter: {}", dev.describe());
    let mut out = Output::create(&args.out)?;
    let t0 = Instant::now();
    let ode = LinearOde { theta: args.theta };

    // Part 1: error at t_end against the exact flow, for step counts 2, 4, ..., max_steps.
    // x0 [N, 1] in [-2, 2].
    let x0 = Tensor::linspace(&dev, -2.0, 2.0, args.points).reshape(&[args.points, 1]);
    let exact = ode.exact(&x0, args.t_end).to_vec();
    let solvers: [(&str, Box<dyn Simulator>, f64); 3] = [
        ("Euler", Box::new(Euler(ode)), 1.0),
        ("Heun", Box::new(Heun(ode)), 2.0),
        ("RK4", Box::new(Rk4(ode)), 4.0),
    ];
    let mut chart = LineChart::new(
        format!(
            "Global error at t = {} for dx/dt = -{} x",
            args.t_end, args.theta
        ),
        "step size h",
        "max |x_K - x0 e^(-θT)|",
    )
    .log_log()
    .legend_at(plotters::chart::SeriesLabelPosition::LowerRight);
    println!(
        "\nglobal error at t = {} (max over {} starts in [-2, 2]):",
        args.t_end, args.points
    );
    println!(
        "{:>6} {:>10} {:>12} {:>12} {:>12}",
        "steps", "h", "Euler", "Heun", "RK4"
    );
    let step_counts: Vec<usize> = (1..)
        .map(|k| 1usize << k)
        .take_while(|&k| k <= args.max_steps)
        .collect();
    let mut errors = vec![Vec::new(); 3];
    for &k in &step_counts {
        let ts = time_grid(&dev, 0.0, args.t_end, k);
        let h = (args.t_end / k as f32) as f64;
        for (s, (_, sim, _)) in solvers.iter().enumerate() {
            let x = simulate(&sim.as_ref(), &x0, &ts).to_vec();
            let err = x
                .iter()
                .zip(&exact)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            errors[s].push((h, err as f64));
        }
        let e: Vec<f64> = errors.iter().map(|v| v.last().unwrap().1).collect();
        println!(
            "{k:>6} {h:>10.5} {:>12.3e} {:>12.3e} {:>12.3e}",
            e[0], e[1], e[2]
        );
    }
    println!("\nfitted slopes of log(error) against log(h) (f32 round-off floor ~1e-6 left out):");
    for (s, (name, _, order)) in solvers.iter().enumerate() {
        // Fit where the error is above f32 round-off and h is small enough to be asymptotic.
        let fit: Vec<(f64, f64)> = errors[s]
            .iter()
            .copied()
            .filter(|&(h, e)| e > 2e-6 && h <= 0.5)
            .collect();
        let slope = if fit.len() >= 2 {
            format!("{:.2}", fitted_slope(&fit))
        } else {
            "n/a".into()
        };
        println!("  {name:<6} slope {slope} (theory {order})");
        chart = chart.line(
            Line::new(errors[s].clone(), color(s))
                .style(LineStyle::LineMarkers)
                .label(format!("{name} (slope {slope})")),
        );
        // the reference slope through the middle point: C h^order
        let (hm, em) = errors[s][errors[s].len() / 3];
        let reference: Vec<(f64, f64)> = errors[s]
            .iter()
            .map(|&(h, _)| (h, em * (h / hm).powf(*order)))
            .collect();
        chart = chart.line(
            Line::new(reference, color(s))
                .style(LineStyle::Dashed)
                .width(1)
                .alpha(0.6),
        );
    }
    chart = chart.line(
        Line::new(vec![], color(7))
            .style(LineStyle::Dashed)
            .width(1)
            .label("h^1, h^2, h^4 guides"),
    );
    out.png("error_vs_step.png", (800, 600), &chart)?;

    // Trajectories with a coarse step against the exact flow, from x0 = 2.
    let coarse = 8;
    let ts = time_grid(&dev, 0.0, args.t_end, coarse);
    let times: Vec<f64> = ts.to_vec().iter().map(|&t| t as f64).collect();
    let start = Tensor::from_slice(&dev, &[2.0], &[1, 1]);
    let fine: Vec<(f64, f64)> = (0..=200)
        .map(|i| {
            let t = args.t_end as f64 * i as f64 / 200.0;
            (t, 2.0 * (-(args.theta as f64) * t).exp())
        })
        .collect();
    let mut traj = LineChart::new(
        format!(
            "dx/dt = -{} x from x0 = 2 with {coarse} steps (h = {})",
            args.theta,
            args.t_end / coarse as f32
        ),
        "t",
        "x(t)",
    )
    .legend_at(plotters::chart::SeriesLabelPosition::UpperRight)
    .line(Line::new(fine, plotters::style::BLACK).label("exact 2 e^(-θt)"));
    for (s, (name, sim, _)) in solvers.iter().enumerate() {
        let path = simulate_with_trajectory(&sim.as_ref(), &start, &ts, 1).to_vec(); // [1, K+1, 1]
        let pts = times
            .iter()
            .zip(&path)
            .map(|(&t, &x)| (t, x as f64))
            .collect();
        traj = traj.line(
            Line::new(pts, color(s))
                .style(LineStyle::LineMarkers)
                .label(*name),
        );
    }
    out.png("trajectories.png", (800, 500), &traj)?;

    // Part 2: a nonlinear flow warping a grid of [-2, 2]^2.
    let field = SwirlWell::new(&dev, args.omega);
    let (g, per) = (args.grid_lines, 80); // g lines per direction, `per` points along each
    let mut grid = Vec::with_capacity(2 * g * per * 2);
    for dir in 0..2 {
        for l in 0..g {
            let a = -2.0 + 4.0 * l as f32 / (g - 1) as f32;
            for p in 0..per {
                let b = -2.0 + 4.0 * p as f32 / (per - 1) as f32;
                grid.extend_from_slice(&if dir == 0 { [b, a] } else { [a, b] });
            }
        }
    }
    let n = 2 * g * per;
    let x = Tensor::from_vec(&dev, grid, &[n, 2]);
    let every = (args.warp_steps / 12).max(1);
    let ts = time_grid(&dev, 0.0, 3.0, args.warp_steps);
    let traj = simulate_with_trajectory(&Rk4(&field), &x, &ts, every); // [n, S, 2]
    let snaps = traj.dim(1);
    let data = traj.to_vec();
    let dt = 3.0 * every as f64 / args.warp_steps as f64;
    let wanted = [0.0, 0.25, 0.5, 1.0, 2.0, 3.0];
    let well = (1.0 - (args.omega as f64).powi(2)).max(0.0).sqrt();
    let mut panels = Vec::new();
    for &t in &wanted {
        let s = ((t / dt).round() as usize).min(snaps - 1);
        let mut chart = LineChart::new(format!("t = {:.2}", s as f64 * dt), "x1", "x2")
            .x_range(-2.2, 2.2)
            .y_range(-2.2, 2.2);
        for line in 0..2 * g {
            let pts = (0..per)
                .map(|p| {
                    let i = ((line * per + p) * snaps + s) * 2;
                    (data[i] as f64, data[i + 1] as f64)
                })
                .collect();
            chart = chart.line(Line::new(pts, color(line / g)).width(1));
        }
        let stable = vec![
            (well, args.omega as f64 * well),
            (-well, -args.omega as f64 * well),
        ];
        chart = chart.line(
            Line::new(stable, color(3))
                .style(LineStyle::Markers)
                .width(4),
        );
        panels.push(chart);
    }
    let refs: Vec<&dyn Panel> = panels.iter().map(|p| p as &dyn Panel).collect();
    let title = format!("The flow of u(x) = (x1 - x1³ - {w} x2, {w} x1 - x2) warping a grid (RK4); red: stable points", w = args.omega);
    out.grid("flow_grid.png", &title, 3, (420, 420), &refs)?;
    let last_spread = {
        let s = snaps - 1;
        (0..n)
            .map(|i| (data[(i * snaps + s) * 2] as f64).abs())
            .fold(0.0, f64::max)
    };
    println!("\nwarped grid: {n} points, {} RK4 steps to t = 3; at t = 3 the largest |x1| is {last_spread:.3} (stable points at x1 = ±{well:.3})", args.warp_steps);

    // The grid's points where the flow left them at t = 3: [n, 2].
    out.samples(&traj.narrow(1, snaps - 1, 1).reshape(&[n, 2]))?;

    println!("\nran in {:.1} s", t0.elapsed().as_secs_f64());
    out.print_written();
    Ok(())
}
