//! Where a training step's time goes: times each op of an MLP step alone, at the step's shapes.
//!
//!     cargo run --release -p engine --example op_times [-- --profile] [-- --small]
//!
//! `--small` times only the small products of a U-Net's time and label adapters (batch 16),
//! through each matmul path (`DeviceOptions::matmul_texture` on and off).
//!
//! With `--profile`, each line is followed by its kernels' times (every dispatch waited for
//! on its own, so slower than the line above; copies into textures are not dispatches).
//!
//! Each line is the median over several repetitions of 20 back-to-back launches, GPU sync
//! included, so it is the op's cost inside a batch (kernel + dispatch overhead).

use std::time::Instant;

use engine::{Device, Tensor};

fn time(dev: &Device, name: &str, mut f: impl FnMut() -> Tensor) {
    f();
    dev.sync().unwrap();
    let mut samples = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..20 {
            f();
        }
        dev.sync().unwrap();
        samples.push(t.elapsed().as_secs_f64() / 20.0);
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let before = dev.stats().dispatches;
    f();
    let dispatches = dev.stats().dispatches - before;
    println!(
        "{name:<44} {:>9.3} ms  ({dispatches} dispatches)",
        samples[3] * 1e3
    );
    for k in dev.profile_report() {
        let each = k.total.as_secs_f64() / k.dispatches as f64;
        println!("    {:<40} {:>9.3} ms each", k.kernel, each * 1e3);
    }
    dev.profile_reset();
}

/// The adapters' products: [16, 40] x [40, c] forward, dX, dW, for c = 40 and 128, and two
/// larger products for where the paths cross.
fn small_products(profile: bool) {
    for textures in [true, false] {
        let dev = Device::with_options(engine::DeviceOptions {
            profile,
            matmul_texture: Some(textures),
            ..Default::default()
        })
        .unwrap();
        println!("matmul_texture: {textures}");
        let few_rows_large = (20, 130, 1030); // computed transposed while that applied
        for (m, k, n) in [
            (16, 40, 40),
            (16, 40, 128),
            (64, 128, 128),
            (256, 128, 128),
            few_rows_large,
        ] {
            let x = Tensor::randn(&dev, &[m, k]);
            let w = Tensor::randn(&dev, &[k, n]);
            let g = Tensor::randn(&dev, &[m, n]);
            time(&dev, &format!("[{m},{k}]x[{k},{n}]"), || x.matmul(&w));
            time(&dev, &format!("dX [{m},{n}]x[{k},{n}]^T"), || {
                g.matmul_t(&w, false, true)
            });
            time(&dev, &format!("dW [{m},{k}]^T x [{m},{n}]"), || {
                x.matmul_t(&g, true, false)
            });
        }
    }
}

fn main() {
    let profile = std::env::args().any(|a| a == "--profile");
    if std::env::args().any(|a| a == "--small") {
        return small_products(profile);
    }
    let dev = Device::with_options(engine::DeviceOptions {
        profile,
        ..Default::default()
    })
    .unwrap();
    println!("adapter: {}", dev.describe());
    let (b, h) = (1024, 256);
    let x2 = Tensor::randn(&dev, &[b, 2]);
    let w1 = Tensor::randn(&dev, &[2, h]);
    let x = Tensor::randn(&dev, &[b, h]);
    let w = Tensor::randn(&dev, &[h, h]);
    let bias = Tensor::randn(&dev, &[h]);
    let w4 = Tensor::randn(&dev, &[h, 2]);
    time(&dev, "matmul [1024,256]x[256,256]", || x.matmul(&w));
    time(&dev, "matmul_t dX [1024,256]x[256,256]^T", || {
        x.matmul_t(&w, false, true)
    });
    time(&dev, "matmul_t dW [1024,256]^T x [1024,256]", || {
        x.matmul_t(&x, true, false)
    });
    time(&dev, "matmul [1024,2]x[2,256] (first layer)", || {
        x2.matmul(&w1)
    });
    time(&dev, "matmul [1024,256]x[256,2] (last layer)", || {
        x.matmul(&w4)
    });
    let g2 = Tensor::randn(&dev, &[b, 2]);
    time(&dev, "dW last [1024,256]^T x [1024,2]", || {
        x.matmul_t(&g2, true, false)
    });
    time(&dev, "dW first [1024,2]^T x [1024,256]", || {
        x2.matmul_t(&x, true, false)
    });
    time(&dev, "add bias [1024,256]+[256] (broadcast)", || {
        x.add(&bias)
    });
    time(&dev, "add same shape [1024,256]", || x.add(&x));
    time(&dev, "silu [1024,256]", || x.silu());
    time(&dev, "sum over batch [1024,256] -> [256]", || {
        x.sum(&[0], false)
    });
    time(&dev, "mse_loss [1024,256]", || x.mse_loss(&x));
    time(&dev, "randn [1024,256]", || Tensor::randn(&dev, &[b, h]));
    let (b, h) = (1000, 64);
    let x = Tensor::randn(&dev, &[b, h]);
    let w = Tensor::randn(&dev, &[h, h]);
    let bias = Tensor::randn(&dev, &[h]);
    time(&dev, "matmul [1000,64]x[64,64]", || x.matmul(&w));
    time(&dev, "matmul_t dW [1000,64]^T x [1000,64]", || {
        x.matmul_t(&x, true, false)
    });
    time(&dev, "add bias [1000,64]+[64]", || x.add(&bias));
    time(&dev, "silu [1000,64]", || x.silu());
    time(&dev, "sum over batch [1000,64] -> [64]", || {
        x.sum(&[0], false)
    });
    // The course MLP's thin layers: [x, t] -> 64 in, 64 -> 2 out, and their gradients.
    let x3 = Tensor::randn(&dev, &[b, 3]);
    let w3 = Tensor::randn(&dev, &[3, h]);
    let w2 = Tensor::randn(&dev, &[h, 2]);
    let g2 = Tensor::randn(&dev, &[b, 2]);
    time(&dev, "matmul [1000,3]x[3,64] (first layer)", || {
        x3.matmul(&w3)
    });
    time(&dev, "matmul [1000,64]x[64,2] (last layer)", || {
        x.matmul(&w2)
    });
    time(&dev, "dW last [1000,64]^T x [1000,2]", || {
        x.matmul_t(&g2, true, false)
    });
    time(&dev, "dX last [1000,2] x [64,2]^T", || {
        g2.matmul_t(&w2, false, true)
    });
    time(&dev, "dW first [1000,3]^T x [1000,64]", || {
        x3.matmul_t(&x, true, false)
    });
    time(&dev, "tiny add [4] (dispatch overhead)", || {
        bias.narrow(0, 0, 4).add_scalar(1.0)
    });
}
