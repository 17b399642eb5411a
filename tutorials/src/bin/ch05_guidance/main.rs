//! Chapter 5: classifier-free guidance. One network u_theta(x, t, y) learns both the conditional
//! field u_t(x | y) and, with labels dropped to a null label with probability eta, the
//! unconditional u_t(x | null). At sampling the guided field
//!   u~_t(x | y) = (1 - w) u_t(x | null) + w u_t(x | y)
//! is the conditional field for w = 1, the unconditional one for w = 0, and for w > 1 pushes
//! away from the unconditional field: samples become more typical of their class and less
//! spread out.
//!
//!     cargo run --release -p tutorials --bin ch05_guidance
//!
//! Legend: N = points, L = classes, D = 2.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use engine::{Device, Tensor};
use models::datasets::{symmetric_mixture, LabeledSampler, Moons};
use models::density::Density;
use models::fields::{ConditionalMlpField, DEFAULT_HIDDEN};
use models::guidance::GuidedField;
use models::path::GaussianPath;
use models::simulate::{simulate, time_grid, Euler};
use models::train::cfg_flow_matching_loss;
use plotters::chart::SeriesLabelPosition;
use tutorials::out::Output;
use tutorials::plot::{
    color, pairs, DensityGrid, Line, LineChart, LineStyle, Panel, Points, Scatter,
};
use tutorials::toy::{density_grid, smoothed, train_with_bar};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Data {
    /// Lab 2's symmetric mixture, each of the 5 components a class.
    Mixture,
    /// The two moons (noise 0.05, scale 3.5), each moon a class.
    Moons,
}

#[derive(Parser)]
#[command(about = "Chapter 5: classifier-free guidance on labelled 2-D data")]
struct Args {
    /// The labelled data.
    #[arg(long, value_enum, default_value_t = Data::Mixture)]
    data: Data,
    /// Training steps.
    #[arg(long, default_value_t = 3000)]
    steps: usize,
    /// Batch size.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Label dropout probability eta (the null label's share of training).
    #[arg(long, default_value_t = 0.1)]
    eta: f32,
    /// Size of the label embedding.
    #[arg(long, default_value_t = 8)]
    embedding: usize,
    /// Guidance weights w (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = vec![0.0, 1.0, 2.0, 4.0])]
    w: Vec<f32>,
    /// Samples per class and weight.
    #[arg(long, default_value_t = 500)]
    per_class: usize,
    /// Euler steps when sampling.
    #[arg(long, default_value_t = 500)]
    sample_steps: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "out/ch05_guidance")]
    out: PathBuf,
    /// A tiny run (for tests): a hundred steps, 100 samples per class.
    #[arg(long)]
    quick: bool,
}

fn main() {
    let mut args = Args::parse();
    if args.quick {
        args.steps = args.steps.min(100);
        args.batch = args.batch.min(256);
        args.per_class = args.per_class.min(100);
        args.sample_steps = args.sample_steps.min(50);
    }
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Labels each point by its nearest class "center set": for the mixture the component means,
/// for the moons dense points on the two noiseless half circles.
struct NearestClass {
    /// (x, y, class) of every reference point.
    refs: Vec<(f32, f32, u32)>,
}

impl NearestClass {
    fn of(data: Data) -> NearestClass {
        match data {
            Data::Mixture => {
                let m = symmetric_mixture();
                NearestClass {
                    refs: m
                        .components()
                        .iter()
                        .enumerate()
                        .map(|(k, c)| (c.mean()[0], c.mean()[1], k as u32))
                        .collect(),
                }
            }
            Data::Moons => {
                let s = Moons::default().scale;
                let refs = (0..400)
                    .flat_map(|i| {
                        let a = std::f32::consts::PI * i as f32 / 399.0;
                        [
                            (s * a.cos(), s * a.sin(), 0),
                            (s * (1.0 - a.cos()), s * (0.5 - a.sin()), 1),
                        ]
                    })
                    .collect();
                NearestClass { refs }
            }
        }
    }
    fn classify(&self, xy: &[f32]) -> Vec<u32> {
        xy.chunks(2)
            .map(|p| {
                let d = |r: &(f32, f32, u32)| (p[0] - r.0).powi(2) + (p[1] - r.1).powi(2);
                self.refs
                    .iter()
                    .min_by(|a, b| d(a).total_cmp(&d(b)))
                    .map_or(0, |r| r.2)
            })
            .collect()
    }
}

/// Per class: the share of points classified as that class, and the RMS distance of the
/// class's points to their mean (the spread).
fn class_stats(
    xy: &[f32],
    labels: &[u32],
    classes: usize,
    nearest: &NearestClass,
) -> Vec<(f64, f64)> {
    let pred = nearest.classify(xy);
    (0..classes as u32)
        .map(|c| {
            let idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
            let acc =
                idx.iter().filter(|&&i| pred[i] == c).count() as f64 / idx.len().max(1) as f64;
            let n = idx.len().max(1) as f64;
            let mx = idx.iter().map(|&i| xy[2 * i] as f64).sum::<f64>() / n;
            let my = idx.iter().map(|&i| xy[2 * i + 1] as f64).sum::<f64>() / n;
            let var = idx
                .iter()
                .map(|&i| (xy[2 * i] as f64 - mx).powi(2) + (xy[2 * i + 1] as f64 - my).powi(2))
                .sum::<f64>()
                / n;
            (acc, var.sqrt())
        })
        .collect()
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let dev = Device::new()?;
    println!("adapter: {}", dev.describe());
    dev.manual_seed(args.seed);
    let mut out = Output::create(&args.out)?;
    let clock = Instant::now();
    let mut summary = Vec::new();
    let (sampler, lim): (Box<dyn LabeledSampler>, (f64, f64)) = match args.data {
        Data::Mixture => (Box::new(symmetric_mixture()), (-15.0, 15.0)),
        Data::Moons => (Box::new(Moons::default()), (-6.0, 9.5)),
    };
    let classes = sampler.num_classes();
    let nearest = NearestClass::of(args.data);
    let path = GaussianPath::sqrt_beta();
    let density: Option<DensityGrid> = match args.data {
        Data::Mixture => Some(density_grid(&dev, lim, 120, |x| {
            symmetric_mixture().log_density(x)
        })),
        Data::Moons => None,
    };

    // 1. Conditional flow matching with label dropout.
    let net = ConditionalMlpField::new(&dev, 2, classes, args.embedding, &DEFAULT_HIDDEN);
    println!(
        "model: MLP [x, t, emb(y)] {} -> 64 x 4 -> 2 (SiLU), embedding [{} + 1 null, {}]",
        3 + args.embedding,
        classes,
        args.embedding
    );
    let rep = train_with_bar(
        "CFG flow matching",
        &net.param_tensors(),
        args.lr,
        args.steps,
        |_| {
            let (z, y) = sampler.sample_labeled(&dev, args.batch);
            cfg_flow_matching_loss(&net, &path, &z, &y, args.eta)
        },
    );
    summary.push(format!(
        "{:?}, {classes} classes, eta = {}: {} steps at {:.1} steps/s, loss {:.3} -> {:.3}",
        args.data,
        args.eta,
        args.steps,
        rep.steps_per_sec,
        rep.mean_first(50),
        rep.mean_last(100)
    ));
    let chart = LineChart::new(
        "CFG flow-matching loss (mean over 25-step windows)",
        "step",
        "loss",
    )
    .line(Line::new(smoothed(&rep.losses, 25), color(0)));
    out.png("loss.png", (800, 450), &chart)?;

    // The data's own per-class spread, for reference.
    let (z, y) = sampler.sample_labeled(&dev, classes * args.per_class);
    let data_stats = class_stats(&z.to_vec(), &y, classes, &nearest);

    // 2. Samples per class for each w.
    let labels: Vec<u32> = (0..classes as u32)
        .flat_map(|c| std::iter::repeat_n(c, args.per_class))
        .collect();
    let n = labels.len();
    let ts = time_grid(&dev, 0.0, 1.0, args.sample_steps);
    let mut panels = Vec::new();
    let mut table = Vec::new();
    let mut last = None;
    let t0 = Instant::now();
    for &w in &args.w {
        let field = GuidedField {
            field: &net,
            labels: labels.clone(),
            w,
        };
        let x = simulate(&Euler(&field), &Tensor::randn(&dev, &[n, 2]), &ts);
        let xy = x.to_vec();
        let stats = class_stats(&xy, &labels, classes, &nearest);
        let mut sc = Scatter::new(format!("w = {w}")).range(lim, lim);
        if let Some(d) = &density {
            sc = sc.over(d);
        }
        for c in 0..classes {
            let pts = pairs(&xy[2 * c * args.per_class..2 * (c + 1) * args.per_class]);
            sc = sc.points(
                Points::new(pts, color(c))
                    .size(1)
                    .alpha(0.5)
                    .label(format!("y = {c}")),
            );
        }
        out.png(&format!("guidance_w{w}.png"), (560, 540), &sc)?;
        panels.push(sc);
        table.push((w, stats));
        last = Some(x);
    }
    let sample_secs = t0.elapsed().as_secs_f64();
    let refs: Vec<&dyn Panel> = panels.iter().map(|p| p as &dyn Panel).collect();
    let title = format!(
        "Classifier-free guidance, u~ = (1-w) u(x|∅) + w u(x|y): {} samples per class",
        args.per_class
    );
    out.grid("guidance.png", &title, refs.len().min(4), (460, 450), &refs)?;
    if let Some(x) = &last {
        out.samples(x)?;
    }

    // 3. The trade-off: accuracy (fidelity) and spread (diversity) against w.
    let mean =
        |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| v.iter().map(f).sum::<f64>() / v.len() as f64;
    let acc: Vec<(f64, f64)> = table
        .iter()
        .map(|(w, s)| (*w as f64, 100.0 * mean(s, |p| p.0)))
        .collect();
    let spread: Vec<(f64, f64)> = table
        .iter()
        .map(|(w, s)| (*w as f64, mean(s, |p| p.1)))
        .collect();
    let data_spread = mean(&data_stats, |p| p.1);
    let wmax = args.w.iter().copied().fold(1.0f32, f32::max) as f64;
    let acc_chart = LineChart::new(
        "fidelity: samples in their class (nearest mode)",
        "w",
        "accuracy (%)",
    )
    .legend_at(SeriesLabelPosition::LowerRight)
    .y_range(0.0, 105.0)
    .line(
        Line::new(acc, color(0))
            .style(LineStyle::LineMarkers)
            .label("guided samples"),
    )
    .line(
        Line::new(
            vec![
                (0.0, 100.0 * mean(&data_stats, |p| p.0)),
                (wmax, 100.0 * mean(&data_stats, |p| p.0)),
            ],
            color(7),
        )
        .style(LineStyle::Dashed)
        .label("data"),
    );
    let spread_chart = LineChart::new("diversity: RMS distance to the class mean", "w", "spread")
        .legend_at(SeriesLabelPosition::UpperRight)
        .line(
            Line::new(spread, color(1))
                .style(LineStyle::LineMarkers)
                .label("guided samples"),
        )
        .line(
            Line::new(vec![(0.0, data_spread), (wmax, data_spread)], color(7))
                .style(LineStyle::Dashed)
                .label("data"),
        );
    let refs: [&dyn Panel; 2] = [&acc_chart, &spread_chart];
    out.grid(
        "tradeoff.png",
        "Larger w: more faithful to the class, less diverse (per-class means)",
        2,
        (520, 420),
        &refs,
    )?;

    summary.push(format!(
        "sampled {} points per w with {} Euler steps ({:.1} s for all w)",
        n, args.sample_steps, sample_secs
    ));
    summary.push("per class: accuracy (share nearest to its own class) / spread (RMS distance to the class mean)".into());
    let header: String = (0..classes)
        .map(|c| format!("{:>16}", format!("y = {c}")))
        .collect();
    summary.push(format!("  {:>6}{header}", ""));
    let row = |name: String, s: &[(f64, f64)]| {
        let cells: String = s
            .iter()
            .map(|(a, r)| format!("{:>16}", format!("{:.1}% / {r:.2}", 100.0 * a)))
            .collect();
        format!("  {name:>6}{cells}")
    };
    summary.push(row("data".into(), &data_stats));
    for (w, s) in &table {
        summary.push(row(format!("w = {w}"), s));
    }

    println!("\nran in {:.1} s\n", clock.elapsed().as_secs_f64());
    for line in &summary {
        println!("{line}");
    }
    out.print_written();
    Ok(())
}
