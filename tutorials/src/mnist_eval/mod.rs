//! How good are chapter 6's digits? Two subcommands the chapter binary embeds:
//!
//! - `classifier` ([`classifier_command`]): trains the small CNN of `models::nn::classifier` on
//!   MNIST (32 x 32, [-1, 1], as the chapter's U-Net sees it), prints its test accuracy and
//!   saves `<out>/classifier.safetensors`. Trained once, reused by every evaluation.
//! - `eval` ([`eval_command`]): for every `<out>/samples_w{w}.safetensors` the chapter wrote,
//!   the share of labelled samples the classifier reads as their intended digit, and the
//!   Fréchet distance between the classifier's 128 penultimate features of those samples and
//!   of as many real test digits (class for class), beside the floor that two disjoint real
//!   sets of that size already show. Written to `<out>/eval.md` too.
//!
//! Legend: N = images, w = guidance weight, F = 128 features.

mod reference;
mod table;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use engine::checkpoint::Checkpoint;
use engine::optim::{Adam, Optimizer, WarmupCosine};
use engine::{Device, Tensor};
use models::data::{find_data_dir, load, Dataset, Split};
use models::fid::frechet_distance_of;
use models::nn::classifier::{shuffled, LabelledImages, FEATURES, SIDE};
use models::nn::Classifier;

use crate::progress::training_bar;
pub use reference::RealFeatures;
pub use table::{guidance_weight, markdown, EvalRow};

/// The result type of both commands: errors name the file or folder at fault.
pub type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Images per forward pass when only reading features or predictions.
const EVAL_BATCH: usize = 250;

/// Flags of the `classifier` subcommand (also part of `eval`, which trains when it must).
#[derive(clap::Args, Clone, Debug)]
pub struct ClassifierArgs {
    /// Output folder: holds classifier.safetensors, the samples_w*.safetensors to evaluate and eval.md.
    #[arg(long, default_value = "out/ch06_mnist")]
    pub out: PathBuf,
    /// Folder of the four MNIST IDX files (default: $MNIST_DIR, else ../shared/data/mnist).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Seed of the initialisation, the shuffles and the real reference sets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Passes over the training images (5: 98.73% on the test set, 319 s on 2 cores).
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// Training batch size.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Adam's initial learning rate (a half cosine takes it down to 1% of this by the end).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Train on the first N training images only (0: all 60,000).
    #[arg(long, default_value_t = 0)]
    pub train_images: usize,
    /// Measure the accuracy on the first N test images only (0: all 10,000).
    #[arg(long, default_value_t = 0)]
    pub test_images: usize,
}

impl ClassifierArgs {
    /// `<out>/classifier.safetensors`
    pub fn checkpoint_path(&self) -> PathBuf {
        self.out.join("classifier.safetensors")
    }
}

/// Flags of the `eval` subcommand.
#[derive(clap::Args, Clone, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub classifier: ClassifierArgs,
    /// Use at most N labelled samples of each file (0: all).
    #[arg(long, default_value_t = 0)]
    pub max_samples: usize,
    /// Also measure the real-vs-real floor at these set sizes (comma-separated), e.g. 100,500,1000.
    #[arg(long, value_delimiter = ',')]
    pub floor_sizes: Vec<usize>,
}

/// What `classifier_command` measured.
#[derive(Clone, Debug)]
pub struct ClassifierReport {
    /// Fraction of the test images classified correctly.
    pub test_accuracy: f64,
    pub test_images: usize,
    pub steps: usize,
    /// Training time (without data loading and the test pass).
    pub train_seconds: f64,
    pub path: PathBuf,
}

/// Trains the classifier (Adam, cross-entropy, shuffled mini-batches), prints its test
/// accuracy and saves it to `<out>/classifier.safetensors` with the accuracy as metadata.
pub fn classifier_command(args: &ClassifierArgs) -> Result<ClassifierReport> {
    let dir = find_data_dir(args.data.as_deref(), Dataset::Mnist)?;
    std::fs::create_dir_all(&args.out).map_err(|e| {
        format!(
            "cannot create the output folder {}: {e}",
            args.out.display()
        )
    })?;
    let train = LabelledImages::from_mnist(&load(&dir, Split::Train)?, args.train_images);
    let test = LabelledImages::from_mnist(&load(&dir, Split::Test)?, args.test_images);
    let dev = Device::new()?;
    println!(
        "classifier: {} ({} training images, {} test images)",
        dev.describe(),
        train.len(),
        test.len()
    );
    dev.manual_seed(args.seed);
    let net = Classifier::new(&dev);
    let params: Vec<Tensor> = net.params("").into_iter().map(|(_, t)| t).collect();
    let mut opt = Adam::new(&params, args.lr);

    let batch = args.batch.clamp(1, train.len());
    let per_epoch = train.len() / batch; // the last partial batch of each epoch is dropped
    let steps = per_epoch * args.epochs;
    // lr: a half cosine from --lr down to 1% of it over the whole run, no warm-up
    let schedule = WarmupCosine {
        base_lr: args.lr,
        min_lr: 0.01 * args.lr,
        warmup_steps: 0,
        total_steps: steps as u64,
    };
    let bar = training_bar(steps as u64, 0);
    let start = Instant::now();
    for epoch in 0..args.epochs {
        let order = shuffled(train.len(), args.seed ^ ((epoch as u64 + 1) << 32));
        for (s, idx) in order.chunks_exact(batch).enumerate() {
            opt.set_lr(schedule.lr((epoch * per_epoch + s) as u64));
            let (x, labels) = train.batch(&dev, idx);
            let loss = net.train_step(&mut opt, &x, &labels);
            bar.inc(1);
            if s % 25 == 0 || s + 1 == per_epoch {
                bar.set_message(format!(
                    "epoch {}/{}  loss {:.4}",
                    epoch + 1,
                    args.epochs,
                    loss.item()
                ));
            }
        }
    }
    dev.sync()?;
    let train_seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    println!(
        "trained {steps} steps of {batch} in {train_seconds:.1} s ({:.1} steps/s, {:.0} images/s)",
        steps as f64 / train_seconds,
        (steps * batch) as f64 / train_seconds
    );
    let test_accuracy = test.accuracy(&dev, &net, EVAL_BATCH);
    println!(
        "test accuracy: {:.2}% of {} images",
        100.0 * test_accuracy,
        test.len()
    );
    let path = args.checkpoint_path();
    let meta = [
        ("test_accuracy", test_accuracy.to_string()),
        ("test_images", test.len().to_string()),
        ("train_images", train.len().to_string()),
        ("epochs", args.epochs.to_string()),
        ("batch", batch.to_string()),
        ("seed", args.seed.to_string()),
    ];
    net.save(&path, &meta)?;
    println!("saved {}", path.display());
    Ok(ClassifierReport {
        test_accuracy,
        test_images: test.len(),
        steps,
        train_seconds,
        path,
    })
}

/// What `eval_command` measured: one row per samples file (sorted by w), and the floor at
/// each `--floor-sizes` size.
#[derive(Clone, Debug)]
pub struct EvalReport {
    pub rows: Vec<EvalRow>,
    /// (set size, real-vs-real Fréchet distance)
    pub floors: Vec<(usize, f64)>,
    /// `<out>/eval.md`
    pub table_path: PathBuf,
}

/// Evaluates every `<out>/samples_w{w}.safetensors` (see the module comment), prints the
/// table and writes it to `<out>/eval.md`. Trains the classifier first if there is none.
pub fn eval_command(args: &EvalArgs) -> Result<EvalReport> {
    let cargs = &args.classifier;
    let path = cargs.checkpoint_path();
    if !path.is_file() {
        println!(
            "no classifier at {}: training one first (the `classifier` subcommand)",
            path.display()
        );
        classifier_command(cargs)?;
    }
    let files = sample_files(&cargs.out)?;
    let dev = Device::new()?;
    let (net, ck) = Classifier::load(&dev, &path)?;
    let accuracy_note = match ck.meta("test_accuracy").and_then(|a| a.parse::<f64>().ok()) {
        Some(a) => format!(
            "{:.2}% on {} test images",
            100.0 * a,
            ck.meta("test_images").unwrap_or("?")
        ),
        None => "test accuracy not recorded".to_string(),
    };
    println!("classifier {} ({accuracy_note})", path.display());
    let dir = find_data_dir(cargs.data.as_deref(), Dataset::Mnist)?;
    let mut real = RealFeatures::new(
        LabelledImages::from_mnist(&load(&dir, Split::Test)?, 0),
        cargs.seed,
    );

    let mut rows = Vec::new();
    for (w, file) in files {
        rows.push(eval_file(
            &dev,
            &net,
            &mut real,
            &w,
            &file,
            args.max_samples,
        )?);
    }
    let mut floors = Vec::new();
    for &n in &args.floor_sizes {
        floors.push((n, real.floor(&dev, &net, &reference::balanced_counts(n))?));
    }
    let header = format!(
        "Classifier {accuracy_note}. FD: Fréchet distance between the classifier's {FEATURES} penultimate \
         features of the labelled samples and of as many real test digits, class for class; floor: the \
         same between two disjoint real sets of that size (seed {})."
        , cargs.seed
    );
    let text = markdown(&header, &rows, &floors);
    println!("\n{text}");
    let table_path = cargs.out.join("eval.md");
    std::fs::write(&table_path, &text)
        .map_err(|e| format!("cannot write {}: {e}", table_path.display()))?;
    println!("wrote {}", table_path.display());
    Ok(EvalReport {
        rows,
        floors,
        table_path,
    })
}

/// The `samples_w{w}.safetensors` files of `dir` as (w as written, path), sorted by w.
fn sample_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the folder {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("reading {}: {e}", dir.display()))?
            .path();
        if let Some(w) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(guidance_weight)
        {
            files.push((w, path));
        }
    }
    if files.is_empty() {
        return Err(format!(
            "no samples_w*.safetensors in {}: run the chapter's `sample` subcommand first",
            dir.display()
        )
        .into());
    }
    files.sort_by(|a, b| table::weight_order(&a.0, &b.0));
    Ok(files)
}

/// One row of the table: reads `samples` [N, 1, 32, 32] and `labels` [N] from `file`.
fn eval_file(
    dev: &Device,
    net: &Classifier,
    real: &mut RealFeatures,
    w: &str,
    file: &Path,
    max_samples: usize,
) -> Result<EvalRow> {
    let ck = Checkpoint::load(file)?;
    let (images, labels) = read_samples(&ck, file)?;
    let n = labels.len();
    // keep the labelled samples (0-9; 10 is the null label), at most `max_samples`
    let mut keep: Vec<usize> = (0..n).filter(|&i| labels[i] < 10).collect();
    if max_samples > 0 {
        keep.truncate(max_samples);
    }
    let px = SIDE * SIDE;
    let kept: Vec<f32> = keep
        .iter()
        .flat_map(|&i| images[i * px..(i + 1) * px].to_vec())
        .collect();
    let intended: Vec<u32> = keep.iter().map(|&i| labels[i]).collect();
    let mut row = EvalRow {
        w: w.to_string(),
        file: file.to_path_buf(),
        samples: n,
        labelled: keep.len(),
        accuracy: None,
        fd: None,
        floor: None,
    };
    if keep.is_empty() {
        return Ok(row);
    }
    let pred = net.predict_all(dev, &kept, EVAL_BATCH);
    let right = pred.iter().zip(&intended).filter(|(p, l)| p == l).count();
    row.accuracy = Some(right as f64 / keep.len() as f64);
    if keep.len() >= 2 {
        let mut counts = [0usize; 10];
        intended.iter().for_each(|&l| counts[l as usize] += 1);
        let (a, _) = real.reference_pair(&counts)?;
        let fake = net.features_of(dev, &kept, EVAL_BATCH);
        let real_a = real.features(dev, net, &a);
        row.fd = Some(frechet_distance_of(&fake, &real_a, FEATURES));
        row.floor = Some(real.floor(dev, net, &counts)?);
    }
    Ok(row)
}

/// The images [N, 1, 32, 32] and labels [N] (as integers; 10 = null) of a samples file.
fn read_samples(ck: &Checkpoint, file: &Path) -> Result<(Vec<f32>, Vec<u32>)> {
    let shown = file.display();
    let (shape, images) = ck
        .get("samples")
        .ok_or_else(|| format!("{shown}: no tensor `samples`"))?;
    let (lshape, labels) = ck
        .get("labels")
        .ok_or_else(|| format!("{shown}: no tensor `labels`"))?;
    if shape.len() != 4 || shape[1..] != [1, SIDE, SIDE] {
        return Err(format!(
            "{shown}: `samples` has shape {shape:?}, expected [N, 1, {SIDE}, {SIDE}]"
        )
        .into());
    }
    if lshape != [shape[0]] {
        return Err(format!(
            "{shown}: `labels` has shape {lshape:?}, expected [{}] (one per sample)",
            shape[0]
        )
        .into());
    }
    let mut out = Vec::with_capacity(labels.len());
    for (i, &l) in labels.iter().enumerate() {
        if !(0.0..=10.0).contains(&l) || l.fract() != 0.0 {
            return Err(format!(
                "{shown}: label {l} at index {i} is neither a digit 0-9 nor the null label 10"
            )
            .into());
        }
        out.push(l as u32);
    }
    Ok((images.to_vec(), out))
}
