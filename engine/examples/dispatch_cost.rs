//! The fixed cost of one small dispatch: 2000 chained `add_scalar`s on a small tensor, with
//! the kernels reading storage buffers and reading flat texture copies
//! (`DeviceOptions::texture_reads`), at a few sizes.
//!
//!     cargo run --release -p engine --example dispatch_cost [-- SIZE ...]

use std::time::Instant;

use engine::{Device, DeviceOptions, Tensor};

fn per_dispatch_us(dev: &Device, numel: usize) -> f64 {
    let mut x = Tensor::ones(dev, &[numel]);
    let mut samples = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..1000 {
            x = x.add_scalar(1.0);
        }
        dev.sync().unwrap();
        samples.push(t.elapsed().as_secs_f64() / 1000.0);
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[2] * 1e6
}

/// The cost of one small `copy_buffer_to_buffer` command, alternating with a dispatch (as a
/// copy between kernels would be): (copy + dispatch) - dispatch.
fn copy_us(dev: &Device, numel: usize) -> f64 {
    let src = Tensor::ones(dev, &[numel]);
    let dst = Tensor::zeros(dev, &[numel]);
    let mut x = Tensor::ones(dev, &[4]);
    let mut samples = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..1000 {
            engine::ops::roofline::copy_buffer(&src, &dst);
            x = x.add_scalar(1.0);
        }
        dev.sync().unwrap();
        samples.push(t.elapsed().as_secs_f64() / 1000.0);
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[2] * 1e6 - per_dispatch_us(dev, 4)
}

/// Dispatches that depend on nothing before them (each fills its own new tensor, so wgpu
/// needs no barrier between them), per dispatch.
fn independent_us(dev: &Device) -> f64 {
    let mut samples = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let kept: Vec<Tensor> = (0..1000).map(|_| Tensor::full(dev, &[4], 1.0)).collect();
        dev.sync().unwrap();
        samples.push(t.elapsed().as_secs_f64() / 1000.0);
        drop(kept);
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[2] * 1e6
}

fn main() {
    let mut sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    if sizes.is_empty() {
        sizes = vec![4, 4096, 65536, 262144];
    }
    for textures in [false, true] {
        let dev = Device::with_options(DeviceOptions {
            texture_reads: Some(textures),
            ..DeviceOptions::default()
        })
        .unwrap();
        if !textures {
            println!("adapter: {}", dev.describe());
            let l = dev.limits();
            println!(
                "storage buffers per stage {}, sampled textures per stage {}",
                l.max_storage_buffers_per_shader_stage, l.max_sampled_textures_per_shader_stage
            );
        }
        for &numel in &sizes {
            println!(
                "texture reads {textures:5}: add_scalar on {numel:6} values: {:6.1} us per op",
                per_dispatch_us(&dev, numel)
            );
        }
        println!(
            "texture reads {textures:5}: independent fills of 4 values: {:6.1} us per op",
            independent_us(&dev)
        );
        println!(
            "texture reads {textures:5}: a copy command of 4 values beside it: {:6.1} us",
            copy_us(&dev, 4)
        );
    }
}
