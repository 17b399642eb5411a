//! `sample`: the trained U-Net's guided field integrated from noise (t = 0) to images (t = 1),
//! for each guidance weight w; and the figure of real images noised along the CondOT path.
//!
//! Legend: R = 11 rows (digits 0-9, then the null label), M = samples per row, N = R * M,
//! S = 32, P = S * S.

use std::error::Error;
use std::time::Instant;

use engine::checkpoint::Checkpoint;
use engine::{no_grad, Device, Tensor};
use models::nn::unet::{load_for_sampling, read_config, GuidedUNet, UNet, NULL_LABEL};
use models::simulate::{simulate, time_grid, Euler, Heun};
use tutorials::image_grid::ImageGrid;
use tutorials::out::Output;

use crate::data::{Batches, SIDE};
use crate::settings::{Model, Sample, Sampler};
use crate::train::{describe, CHECKPOINT};

/// Times of the noising figure, as in lab 3.
const NOISE_TIMES: [f32; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];

pub fn run(dev: &Device, m: &Model, s: &Sample) -> Result<(), Box<dyn Error>> {
    let mut out = Output::create(&m.out)?;
    let ck_path = m.out.join(CHECKPOINT);
    let ck = Checkpoint::load(&ck_path)?;
    let config = read_config(&ck)?;
    let mut unet = UNet::new(dev, &config);
    load_for_sampling(&mut unet, &ck, s.ema)?;
    let weights = if s.ema { "EMA" } else { "raw" };
    println!(
        "sampling {} ({weights} weights, step {}): {}",
        ck_path.display(),
        ck.meta("step").unwrap_or("?"),
        describe(&config)
    );

    // Labels [N]: M of each digit, then M of the null label (the unconditional field).
    let rows = NULL_LABEL as usize + 1;
    let labels: Vec<u32> = (0..=NULL_LABEL)
        .flat_map(|y| std::iter::repeat_n(y, s.per_class))
        .collect();
    let n = labels.len();
    let row_labels: Vec<String> = (0..10)
        .map(|d| d.to_string())
        .chain(["null".into()])
        .collect();
    // The same starting noise for every w, so the grids differ only by the guidance.
    let x0 = Tensor::randn_seeded(dev, &[n, SIDE * SIDE], m.seed.wrapping_add(1), 0); // [N, P]
    let ts = time_grid(dev, 0.0, 1.0, s.steps);
    for &w in &s.w {
        let clock = Instant::now();
        let field = GuidedUNet {
            unet: &unet,
            labels: labels.clone(),
            w,
            size: (SIDE, SIDE),
        };
        let x = match s.sampler {
            Sampler::Euler => simulate(&Euler(&field), &x0, &ts),
            Sampler::Heun => simulate(&Heun(&field), &x0, &ts),
        };
        let x = no_grad(|| x.clamp(-1.0, 1.0)).reshape(&[n, 1, SIDE, SIDE]); // [N, 1, S, S]
        let pixels = x.to_vec();
        let secs = clock.elapsed().as_secs_f64();
        println!(
            "w = {w}: {n} samples, {} {:?} steps, in {secs:.1} s",
            s.steps, s.sampler
        );
        ImageGrid {
            pixels: &pixels,
            rows,
            cols: s.per_class,
            size: (SIDE, SIDE),
            scale: 2,
            title: format!("w = {w} ({:?}, {} steps)", s.sampler, s.steps),
            row_labels: row_labels.clone(),
            col_labels: Vec::new(),
        }
        .save(out.file(&format!("samples_w{w}.png")))?;
        let mut st = Checkpoint::new();
        st.insert("samples", &x);
        st.insert_data("labels", &[n], labels.iter().map(|&y| y as f32).collect());
        st.save(out.file(&format!("samples_w{w}.safetensors")))?;
    }

    noising_figure(dev, m, &mut out)?;
    out.print_written();
    Ok(())
}

/// `noising.png`: a few real training images z along the CondOT path,
/// x_t = t z + (1 - t) eps, at t = 0 (pure noise), 0.25, 0.5, 0.75, 1 (the image).
fn noising_figure(dev: &Device, m: &Model, out: &mut Output) -> Result<(), Box<dyn Error>> {
    let batches = Batches::load(m.data.as_deref(), m.seed)?;
    let k = 5; // images: one row each
    let (z, labels) = batches.images(dev, &(0..k).collect::<Vec<_>>()); // [k, 1, S, S]
    let eps = Tensor::randn_seeded(dev, z.shape(), m.seed.wrapping_add(2), 0);
    let mut pixels = vec![0.0; k * NOISE_TIMES.len() * SIDE * SIDE];
    let per = SIDE * SIDE;
    for (j, &t) in NOISE_TIMES.iter().enumerate() {
        let xt = z.mul_scalar(t).add(&eps.mul_scalar(1.0 - t)).to_vec(); // [k, 1, S, S]
        for i in 0..k {
            let dst = (i * NOISE_TIMES.len() + j) * per;
            pixels[dst..dst + per].copy_from_slice(&xt[i * per..(i + 1) * per]);
        }
    }
    ImageGrid {
        pixels: &pixels,
        rows: k,
        cols: NOISE_TIMES.len(),
        size: (SIDE, SIDE),
        scale: 3,
        title: "x_t = t z + (1 - t) eps along the CondOT path".into(),
        row_labels: labels.iter().map(|y| format!("z: {y}")).collect(),
        col_labels: NOISE_TIMES.iter().map(|t| format!("t = {t}")).collect(),
    }
    .save(out.file("noising.png"))?;
    Ok(())
}
