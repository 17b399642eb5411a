//! Lab 3's U-Net: shapes, the parameter count, the Fourier embedding against its formula, the
//! guided field against its separate passes, that training lowers the loss, and that a resumed
//! run matches an uninterrupted one bit for bit.
//!
//! Legend: N = batch, H x W = image size (tiny here: 8 x 12 or 8 x 8).

use engine::checkpoint::Checkpoint;
use engine::{no_grad, Device, Tensor};
use models::dynamics::Ode;
use models::nn::unet::{
    cfg_condot_loss, drop_labels, read_config, GuidedUNet, NormKind, TrainSettings, UNet,
    UNetConfig, UNetTrainer, NULL_LABEL,
};
use models::nn::FourierEncoder;

fn device() -> Device {
    Device::new().expect("tests need a wgpu adapter: install mesa-vulkan-drivers")
}

/// A two-level U-Net small enough for tests: channels [4, 8], one residual layer, 8-dim
/// embeddings.
fn tiny(norm: NormKind) -> UNetConfig {
    UNetConfig {
        channels: vec![4, 8],
        layers: 1,
        t_dim: 8,
        y_dim: 8,
        norm,
        attention_heads: 0,
    }
}

/// Images [N, 1, H, W] that depend on the label: a bright 2 x 2 square whose place is set by
/// the label, on a dark background, in [-1, 1]. Learnable by a small net in a few steps.
fn toy_images(dev: &Device, labels: &[u32], h: usize, w: usize) -> Tensor {
    let mut px = vec![-1.0f32; labels.len() * h * w];
    for (i, &y) in labels.iter().enumerate() {
        let (r, c) = (2 * (y as usize % 3), 2 * (y as usize / 3 % 4));
        for (dr, dc) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            px[i * h * w + (r + dr) * w + (c + dc)] = 1.0;
        }
    }
    Tensor::from_vec(dev, px, &[labels.len(), 1, h, w])
}

#[test]
fn unet_output_has_the_input_shape_on_a_non_square_batch() {
    let dev = device();
    dev.manual_seed(1);
    let unet = UNet::new(&dev, &tiny(NormKind::Group));
    let x = Tensor::randn(&dev, &[3, 1, 8, 12]);
    let t = Tensor::from_slice(&dev, &[0.0, 0.5, 1.0], &[3]);
    let out = unet.forward(&x, &t, &[0, 7, NULL_LABEL]);
    assert_eq!(out.shape(), &[3, 1, 8, 12]);
    assert!(out.to_vec().iter().all(|v| v.is_finite()));
}

#[test]
fn three_level_unet_keeps_the_shape_with_batch_norm() {
    let dev = device();
    let cfg = UNetConfig {
        channels: vec![2, 3, 5],
        ..tiny(NormKind::Batch)
    };
    let unet = UNet::new(&dev, &cfg);
    let x = Tensor::randn(&dev, &[2, 1, 8, 8]);
    let out = unet.forward(&x, &Tensor::full(&dev, &[2], 0.3), &[4, 9]);
    assert_eq!(out.shape(), &[2, 1, 8, 8]);
}

/// Lab 3's model has 1,233,325 parameters, counted by hand (BatchNorm's running statistics
/// are buffers, not parameters; group norm has the same gamma and beta per channel):
///
/// - Fourier frequencies [1, 20]: 20; label embedding [11, 40]: 440.
/// - init conv 1 -> 32 (3x3): 288 + 32 = 320; its norm: 2 * 32 = 64.
/// - ResidualLayer(c): two convs c -> c: 2 (9c^2 + c); two norms: 4c; two adapters, each
///   Linear(40, 40) (1640) + Linear(40, c) (41c): 3280 + 82c. In all 18c^2 + 88c + 3280:
///   RL(32) = 24,528, RL(64) = 82,640, RL(128) = 309,456.
/// - Encoder(32, 64): 2 RL(32) + conv 32 -> 64 (18,432 + 64) = 49,056 + 18,496 = 67,552.
/// - Encoder(64, 128): 2 RL(64) + conv 64 -> 128 (73,728 + 128) = 165,280 + 73,856 = 239,136.
/// - Midcoder(128): 2 RL(128) = 618,912.
/// - Decoder(128, 64): conv 128 -> 64 (73,728 + 64) + 2 RL(64) = 73,792 + 165,280 = 239,072.
/// - Decoder(64, 32): conv 64 -> 32 (18,432 + 32) + 2 RL(32) = 18,464 + 49,056 = 67,520.
/// - final conv 32 -> 1: 288 + 1 = 289.
///
/// Sum: 460 + 384 + 67,552 + 239,136 + 618,912 + 239,072 + 67,520 + 289 = 1,233,325.
#[test]
fn lab3_unet_has_1_233_325_parameters() {
    let dev = device();
    let unet = UNet::new(&dev, &UNetConfig::lab3());
    assert_eq!(unet.num_params(), 1_233_325);
    let group = UNetConfig {
        norm: NormKind::Group,
        ..UNetConfig::lab3()
    };
    assert_eq!(UNet::new(&dev, &group).num_params(), 1_233_325);
    // Batch norm keeps a running mean and variance per channel of each of its 1 + 2 * 2 * 5 = 21
    // norms: 2 * (32 + 4 * (32 + 64 + 128 + 64 + 32)) = 2 * 1312 = 2624 buffer values.
    let buffers: usize = unet.buffers().iter().map(|(_, t)| t.numel()).sum();
    assert_eq!(buffers, 2624);
}

#[test]
fn parameter_names_are_unique() {
    let dev = device();
    let unet = UNet::new(&dev, &UNetConfig::lab3());
    let mut names: Vec<String> = unet.params().into_iter().map(|(n, _)| n).collect();
    names.extend(unet.buffers().into_iter().map(|(n, _)| n));
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count, "duplicate tensor names");
}

#[test]
fn fourier_embedding_matches_sqrt2_sin_cos_of_2_pi_t_w() {
    let dev = device();
    dev.manual_seed(3);
    let enc = FourierEncoder::new(&dev, 10);
    let ts = [0.0f32, 0.1, 0.37, 0.5, 0.99, 1.0, 0.73];
    let got = enc.forward(&Tensor::from_slice(&dev, &ts, &[7])).to_vec(); // [7, 10]
    let w = enc.weights.to_vec(); // [1, 5]
    let mut want = Vec::new();
    for &t in &ts {
        let f = |k: usize| 2.0 * std::f64::consts::PI * t as f64 * w[k] as f64;
        want.extend((0..5).map(|k| f(k).sin() * 2f64.sqrt()));
        want.extend((0..5).map(|k| f(k).cos() * 2f64.sqrt()));
    }
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((*g as f64 - w).abs() < 1e-4, "element {i}: {g} vs {w}");
    }
}

#[test]
fn guided_field_batches_the_conditional_and_null_passes_correctly() {
    let dev = device();
    dev.manual_seed(4);
    let unet = UNet::new(&dev, &tiny(NormKind::Group));
    let labels = vec![1, 5, 9];
    let x = Tensor::randn(&dev, &[3, 64]); // [N, P], P = 8 * 8
    let t = 0.4;
    let img = x.reshape(&[3, 1, 8, 8]);
    let tt = Tensor::full(&dev, &[3], t);
    let (cond, null) = no_grad(|| {
        let c = unet.forward(&img, &tt, &labels).to_vec();
        let u = unet.forward(&img, &tt, &[NULL_LABEL; 3]).to_vec();
        (c, u)
    });
    for w in [0.0f32, 1.0, 3.0] {
        let field = GuidedUNet {
            unet: &unet,
            labels: labels.clone(),
            w,
            size: (8, 8),
        };
        let got = no_grad(|| field.drift(&x, t)).to_vec();
        for (i, g) in got.iter().enumerate() {
            let want = (1.0 - w) * null[i] + w * cond[i];
            assert!(
                (g - want).abs() <= 1e-4 * (1.0 + want.abs()),
                "w = {w}, element {i}: {g} vs {want}"
            );
        }
    }
}

#[test]
fn label_dropout_hits_about_eta_and_repeats_for_the_same_stream() {
    let labels: Vec<u32> = (0..20_000).map(|i| i % 10).collect();
    let a = drop_labels(&labels, 0.1, 7, 3);
    let dropped = a.iter().filter(|&&y| y == NULL_LABEL).count() as f64 / labels.len() as f64;
    assert!((dropped - 0.1).abs() < 0.01, "dropped {dropped}");
    assert!(a
        .iter()
        .zip(&labels)
        .all(|(&d, &y)| d == y || d == NULL_LABEL));
    assert_eq!(a, drop_labels(&labels, 0.1, 7, 3));
    assert_ne!(a, drop_labels(&labels, 0.1, 7, 4));
}

fn settings() -> TrainSettings {
    TrainSettings {
        lr: 3e-3,
        eta: 0.1,
        ema_decay: 0.99,
        seed: 5,
    }
}

/// The labels of training step `s` (a fixed function of s, like the chapter's batches).
fn step_labels(s: u64) -> Vec<u32> {
    (0..6).map(|i| ((i + 3 * s) % 10) as u32).collect()
}

#[test]
fn a_few_training_steps_lower_the_loss_on_fixed_noise() {
    let dev = device();
    dev.manual_seed(11);
    let mut tr = UNetTrainer::new(UNet::new(&dev, &tiny(NormKind::Group)), settings());
    let labels: Vec<u32> = (0..12).map(|i| i % 10).collect();
    let z = toy_images(&dev, &labels, 8, 8);
    // The loss on one fixed draw of (t, eps): the same generator state before and after.
    let fixed = |tr: &UNetTrainer| {
        let saved = dev.rng_state();
        dev.set_rng_state((99, 0));
        let l = no_grad(|| cfg_condot_loss(&tr.unet, &z, &labels).item());
        dev.set_rng_state(saved);
        l
    };
    let before = fixed(&tr);
    for _ in 0..40 {
        tr.train_step(&z, &labels);
    }
    let after = fixed(&tr);
    assert!(
        after < 0.7 * before,
        "40 steps should lower the loss by 30%: {before} -> {after}"
    );
}

/// Runs steps from `tr.step` to `to` on the toy batches of `step_labels`.
fn run_to(dev: &Device, tr: &mut UNetTrainer, to: u64) {
    while tr.step < to {
        let y = step_labels(tr.step);
        tr.train_step(&toy_images(dev, &y, 8, 8), &y);
    }
}

fn resume_is_bit_exact(norm: NormKind) {
    let path = std::env::temp_dir().join(format!(
        "unet-resume-{:?}-{}.safetensors",
        norm,
        std::process::id()
    ));
    // Uninterrupted: 6 steps, saving at step 3 on the way.
    let dev = device();
    dev.manual_seed(21);
    let mut a = UNetTrainer::new(UNet::new(&dev, &tiny(norm)), settings());
    run_to(&dev, &mut a, 3);
    a.checkpoint().save(&path).unwrap();
    run_to(&dev, &mut a, 6);
    let want = a.checkpoint();

    // Resumed: a fresh process-like start (another device, another init), restored at step 3.
    let dev2 = device();
    dev2.manual_seed(12345);
    let mut b = UNetTrainer::new(UNet::new(&dev2, &tiny(norm)), settings());
    let ck = Checkpoint::load(&path).unwrap();
    assert_eq!(read_config(&ck).unwrap(), tiny(norm));
    b.restore(&ck).unwrap();
    assert_eq!(b.step, 3);
    run_to(&dev2, &mut b, 6);
    let got = b.checkpoint();

    assert_eq!(got.names(), want.names());
    assert!(want.names().iter().any(|n| n.starts_with("ema.")));
    assert!(want.names().iter().any(|n| n.starts_with("optim.")));
    for name in want.names() {
        let (ws, wd) = want.get(name).unwrap();
        let (gs, gd) = got.get(name).unwrap();
        assert_eq!(ws, gs, "{name}: shape");
        let same = wd.iter().zip(gd).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(
            same,
            "{name}: the resumed run differs from the uninterrupted one"
        );
    }
    assert_eq!(got.meta("step"), Some("6"));
    assert_eq!(got.meta("rng.offset"), want.meta("rng.offset"));
    std::fs::remove_file(&path).ok();
}

#[test]
fn resumed_training_matches_the_uninterrupted_run_bit_for_bit_group_norm() {
    resume_is_bit_exact(NormKind::Group);
}

#[test]
fn resumed_training_matches_the_uninterrupted_run_bit_for_bit_batch_norm() {
    resume_is_bit_exact(NormKind::Batch);
}

#[test]
fn restoring_into_a_model_of_another_shape_is_an_error() {
    let dev = device();
    let a = UNetTrainer::new(UNet::new(&dev, &tiny(NormKind::Group)), settings());
    let other = UNetConfig {
        channels: vec![4, 6],
        ..tiny(NormKind::Group)
    };
    let mut b = UNetTrainer::new(UNet::new(&dev, &other), settings());
    let err = b.restore(&a.checkpoint()).unwrap_err().to_string();
    assert!(err.contains("U-Net"), "{err}");
}

#[test]
#[should_panic(expected = "UNet::forward: x must be [N, 1, H, W] with H and W multiples of 2")]
fn forward_rejects_an_odd_image_size() {
    let dev = device();
    let unet = UNet::new(&dev, &tiny(NormKind::Group));
    unet.forward(
        &Tensor::zeros(&dev, &[1, 1, 7, 8]),
        &Tensor::zeros(&dev, &[1]),
        &[0],
    );
}

#[test]
#[should_panic(expected = "UNet::forward: t must be [N] = [2]")]
fn forward_rejects_times_of_the_wrong_shape() {
    let dev = device();
    let unet = UNet::new(&dev, &tiny(NormKind::Group));
    unet.forward(
        &Tensor::zeros(&dev, &[2, 1, 8, 8]),
        &Tensor::zeros(&dev, &[2, 1]),
        &[0, 1],
    );
}

#[test]
#[should_panic(expected = "UNet::forward: label 11 is not a digit")]
fn forward_rejects_a_label_beyond_the_null_label() {
    let dev = device();
    let unet = UNet::new(&dev, &tiny(NormKind::Group));
    unet.forward(
        &Tensor::zeros(&dev, &[1, 1, 8, 8]),
        &Tensor::zeros(&dev, &[1]),
        &[11],
    );
}

/// Channels [2, 4], one layer, one 4 x 4 image; each 3x3 conv costs 2 * Cout * pixels * Cin * 9:
/// init 1 -> 2 (16 px) 576, final 2 -> 1 576, encoder's two 2 -> 2 convs 2 * 1152 and its
/// stride-2 2 -> 4 (4 px) 576, decoder's 4 -> 2 (16 px) 2304 and two 2 -> 2 2304, midcoder's
/// two 4 -> 4 (4 px) 2 * 1152 = 2304: 10,944 in all.
#[test]
fn conv_flops_of_a_tiny_unet_match_the_hand_count() {
    let dev = device();
    let cfg = UNetConfig {
        channels: vec![2, 4],
        ..tiny(NormKind::Group)
    };
    let unet = UNet::new(&dev, &cfg);
    assert_eq!(unet.conv_flops(1, 4, 4), 10_944);
    assert_eq!(unet.conv_flops(3, 4, 4), 3 * 10_944);
}
