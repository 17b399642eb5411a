//! Repeated dispatches must not grow the process: lavapipe (Mesa 22) compiled
//! conv2d_grad_weight_rows again at every dispatch, because it inlines uniform values that
//! bound loops into the shader, and kept every copy (~450 KB each, 24 GB over a chapter 6
//! run). The kernels now read such values in a form it cannot inline
//! (shaders/conv_grad_weight_rows.wgsl). Alone in its test binary, so that no other test's
//! allocations share the process; Linux only (it reads /proc/self/statm), skipped elsewhere.

use engine::{ops, Device, Tensor};

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[test]
fn repeated_dispatches_keep_memory_flat() {
    let Some(_) = resident_bytes() else {
        eprintln!("skipped: no /proc/self/statm on this system");
        return;
    };
    let dev = Device::new().expect("tests need a wgpu adapter: install mesa-vulkan-drivers");
    let x = Tensor::randn(&dev, &[1, 8, 8, 8]);
    let dy = Tensor::randn(&dev, &[1, 8, 8, 8]);
    let w = Tensor::randn(&dev, &[8, 8, 3, 3]);
    let (gamma, beta) = (Tensor::ones(&dev, &[8]), Tensor::zeros(&dev, &[8]));
    let q = Tensor::randn(&dev, &[2, 9, 8]);
    let m = Tensor::randn(&dev, &[33, 20]);
    let xl = Tensor::randn(&dev, &[300, 64]).set_requires_grad(true);
    let (wl, bl) = (Tensor::randn(&dev, &[64, 64]), Tensor::randn(&dev, &[64]));
    let gl = Tensor::randn(&dev, &[300, 64]);
    // The kernels with loops bounded by their parameters: a stride-1 3x3 conv forward,
    // grad-input and grad-weight, group norm, attention, a matmul, a column reduction, and
    // linear_act's backward (its activation gradient walks the rows).
    let run = |calls: usize| {
        for _ in 0..calls {
            drop(x.conv2d(&w, None, 1, 1));
            drop(ops::conv::conv2d_grad_input(&dy, &w, &[1, 8, 8, 8], 1, 1));
            drop(ops::conv::conv2d_grad_weight(&x, &dy, &[8, 8, 3, 3], 1, 1));
            drop(x.group_norm(2, &gamma, &beta, 1e-5));
            drop(Tensor::attention(&q, &q, &q));
            drop(m.matmul_t(&m, true, false));
            drop(m.sum(&[0], false));
            xl.linear_act(&wl, &bl, engine::Activation::Silu)
                .backward_with(gl.clone());
            xl.zero_grad();
        }
        dev.sync().unwrap();
    };
    run(20); // warm up: pipelines, pools
    let before = resident_bytes().unwrap();
    run(200);
    let grown = resident_bytes().unwrap().saturating_sub(before);
    // With the recompiling conv weight-gradient kernel this grew ~100 MB; allocator noise is
    // a few MB.
    assert!(
        grown < 24 << 20,
        "200 rounds of these kernels grew the process by {:.1} MB: is the driver compiling a \
         kernel again at every dispatch?",
        grown as f64 / 1e6
    );
}
