//! The roofline probes compute what they claim (correctness only; timing is in benches/roofline.rs).

mod common;
use common::*;

use engine::ops::roofline::{copy_buffer, fma_flops, fma_loop, stream_copy, stream_write};
use engine::Tensor;

/// The FMA loop's recurrence on the CPU in f64: 32 lanes starting at x + 0.25 * l.
fn fma_reference(x: &[f32], iters: u32, mul: f64, add: f64) -> Vec<f64> {
    x.iter()
        .map(|&v| {
            (0..32)
                .map(|l| {
                    let mut a = v as f64 + 0.25 * l as f64;
                    for _ in 0..iters {
                        a = a * mul + add;
                    }
                    a
                })
                .sum()
        })
        .collect()
}

#[test]
fn fma_loop_matches_cpu_recurrence_over_several_workgroups() {
    let dev = device();
    let n = 700; // not a multiple of the workgroup size of 256
    let x = uniform(n, -1.0, 1.0, 3);
    for iters in [0u32, 1, 5] {
        let got = fma_loop(&Tensor::from_slice(&dev, &x, &[n]), iters, 0.75, 0.5).to_vec();
        assert_close(
            &format!("fma_loop iters {iters}"),
            &got,
            &fma_reference(&x, iters, 0.75, 0.5),
            1e-4,
            1e-5,
        );
    }
}

#[test]
fn fma_flops_counts_eight_vec4_accumulators() {
    assert_eq!(fma_flops(1000, 10), 1000 * 10 * 8 * 4 * 2);
}

#[test]
fn buffer_copy_and_stream_copy_are_exact() {
    let dev = device();
    let n = 4 * 1000 + 4; // 1001 vec4s: spans several workgroups, not a multiple of 256
    let data = uniform(n, -1.0, 1.0, 7);
    let src = Tensor::from_slice(&dev, &data, &[n]);
    let dst = Tensor::zeros(&dev, &[n]);
    copy_buffer(&src, &dst);
    assert_eq!(dst.to_vec(), data, "copy_buffer");
    assert_eq!(stream_copy(&src).to_vec(), data, "stream_copy");
}

#[test]
#[should_panic(expected = "stream_copy: 6 elements")]
fn stream_copy_rejects_a_length_not_a_multiple_of_four() {
    let dev = device();
    stream_copy(&Tensor::zeros(&dev, &[6]));
}

#[test]
fn stream_write_writes_each_index_scaled_and_shifted() {
    let dev = device();
    let n = 4 * 1000 + 4; // 1001 vec4s: several workgroups, not a multiple of 256
    let want: Vec<f32> = (0..n).map(|i| (i as f64 * 0.5 - 3.0) as f32).collect();
    assert_eq!(stream_write(&dev, n, 0.5, -3.0).to_vec(), want);
}

#[test]
#[should_panic(expected = "stream_write: 6 elements")]
fn stream_write_rejects_a_length_not_a_multiple_of_four() {
    let dev = device();
    stream_write(&dev, 6, 1.0, 0.0);
}
