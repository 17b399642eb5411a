//! Tensor::attention (fused kernels, shaders/attention.wgsl) against an f64 CPU reference and
//! against the composed path softmax(q k^T * scale) v, forward and the three gradients; finite
//! differences via check_op; the panic messages.
//!
//! Legend: q is [B, Lq, D], k is [B, Lk, D], v is [B, Lk, Dv], out is [B, Lq, Dv].
//! Sequence lengths 1, 7, 65, 197 are not multiples of the kernel's groups of 4 keys or 4
//! rows per invocation, and B * rows spans several workgroups of 64.
//! Every test runs the kernels at the adapter's default rows per invocation; the
//! `..._at_every_rows_per_invocation` tests also run 1 (GPUs' default) and 3 (a partial
//! group of rows in the shader's unrolled code).
mod common;
use common::*;
use engine::ops::attention::{attention_with_rows, MAX_ROWS};
use engine::Tensor;

/// Rows per invocation the `..._at_every_rows_per_invocation` tests run.
const ROWS: [usize; 3] = [1, 3, MAX_ROWS];

#[derive(Clone, Copy, Debug)]
struct Shape {
    b: usize,
    lq: usize,
    lk: usize,
    d: usize,
    dv: usize,
}

const fn shape(b: usize, lq: usize, lk: usize, d: usize, dv: usize) -> Shape {
    Shape { b, lq, lk, d, dv }
}

/// softmax(q k^T / sqrt(D)) v in f64 on flat row-major data.
fn reference(q: &[f64], k: &[f64], v: &[f64], s: Shape) -> Vec<f64> {
    let scale = 1.0 / (s.d as f64).sqrt();
    let mut out = vec![0.0; s.b * s.lq * s.dv];
    for b in 0..s.b {
        for i in 0..s.lq {
            let qi = &q[(b * s.lq + i) * s.d..][..s.d];
            let scores: Vec<f64> = (0..s.lk)
                .map(|j| {
                    let kj = &k[(b * s.lk + j) * s.d..][..s.d];
                    scale * qi.iter().zip(kj).map(|(x, y)| x * y).sum::<f64>()
                })
                .collect();
            let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = scores.iter().map(|x| (x - m).exp()).collect();
            let total: f64 = w.iter().sum();
            let o = &mut out[(b * s.lq + i) * s.dv..][..s.dv];
            for (j, wj) in w.iter().enumerate() {
                let vj = &v[(b * s.lk + j) * s.dv..][..s.dv];
                for (oc, vc) in o.iter_mut().zip(vj) {
                    *oc += wj / total * vc;
                }
            }
        }
    }
    out
}

/// Seeded q, k, v of shape `s` (values in [-amp, amp)), as flat f32 vectors.
fn inputs(s: Shape, amp: f32, seed: u64) -> [Vec<f32>; 3] {
    [
        uniform(s.b * s.lq * s.d, -amp, amp, seed),
        uniform(s.b * s.lk * s.d, -amp, amp, seed + 1),
        uniform(s.b * s.lk * s.dv, -1.0, 1.0, seed + 2),
    ]
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Leaf tensors q, k, v (requiring gradients) of shape `s`.
fn leaves(dev: &engine::Device, s: Shape, data: &[Vec<f32>; 3]) -> [Tensor; 3] {
    let dims = [[s.b, s.lq, s.d], [s.b, s.lk, s.d], [s.b, s.lk, s.dv]];
    [0, 1, 2].map(|i| Tensor::from_slice(dev, &data[i], &dims[i]).set_requires_grad(true))
}

/// Fused forward against the f64 reference, with `rows` rows per invocation (None: the
/// adapter's default).
fn check_forward_rows(s: Shape, amp: f32, rows: Option<usize>) {
    let dev = device();
    let data = inputs(s, amp, 7);
    let [q, k, v] = leaves(&dev, s, &data);
    let got = match rows {
        Some(r) => attention_with_rows(&q, &k, &v, r),
        None => Tensor::attention(&q, &k, &v),
    };
    assert_eq!(got.shape(), [s.b, s.lq, s.dv], "{s:?}: output shape");
    let want = reference(&f64s(&data[0]), &f64s(&data[1]), &f64s(&data[2]), s);
    let what = format!("attention {s:?}, rows per invocation {rows:?}");
    assert_close(&what, &got.to_vec(), &want, 2e-5, 1e-4);
}

fn check_forward(s: Shape, amp: f32) {
    check_forward_rows(s, amp, None);
}

/// Fused against composed: the output and the gradients of q, k, v under the same random
/// output gradient.
fn check_against_composed(s: Shape) {
    check_against_composed_rows(s, None);
}

/// As `check_against_composed`, the fused kernels at `rows` rows per invocation.
fn check_against_composed_rows(s: Shape, rows: Option<usize>) {
    let dev = device();
    let data = inputs(s, 1.0, 11);
    let w = uniform(s.b * s.lq * s.dv, -1.0, 1.0, 12);
    let run = |composed: bool| {
        let [q, k, v] = leaves(&dev, s, &data);
        let out = match (composed, rows) {
            (true, _) => Tensor::attention_composed(&q, &k, &v),
            (false, Some(r)) => attention_with_rows(&q, &k, &v, r),
            (false, None) => Tensor::attention(&q, &k, &v),
        };
        let o = out.to_vec();
        out.backward_with(Tensor::from_slice(&dev, &w, out.shape()));
        let grads = [&q, &k, &v].map(|t| t.grad().expect("a gradient").to_vec());
        (o, grads)
    };
    let (fo, fg) = run(false);
    let (co, cg) = run(true);
    assert_close(
        &format!("{s:?} forward vs composed"),
        &fo,
        &f64s(&co),
        2e-5,
        1e-4,
    );
    for (name, (f, c)) in ["dq", "dk", "dv"].iter().zip(fg.iter().zip(&cg)) {
        // Gradients sum up to Lq or Lk terms: the f32 error of either path grows with them.
        let tol = 1e-5 * (s.lq.max(s.lk) as f64).sqrt() + 2e-5;
        assert_close(&format!("{s:?} {name} vs composed"), f, &f64s(c), tol, 1e-3);
    }
}

const SHAPES: &[Shape] = &[
    shape(3, 1, 1, 4, 4),       // one query, one key
    shape(3, 7, 65, 8, 8),      // Lq != Lk, a partial group of keys
    shape(3, 65, 7, 32, 32),    // more queries than keys
    shape(3, 197, 197, 64, 64), // ViT-sized sequence, widest head
    shape(3, 65, 197, 32, 8),   // Dv != D
    shape(3, 1, 65, 64, 4),
    shape(3, 197, 1, 4, 64), // one key: out = v for every query
];

#[test]
fn forward_matches_f64_reference_at_awkward_lengths_and_head_dims() {
    for &s in SHAPES {
        check_forward(s, 1.0);
    }
}

#[test]
fn forward_matches_f64_reference_at_every_rows_per_invocation() {
    for rows in ROWS {
        check_forward_rows(shape(3, 197, 65, 32, 8), 1.0, Some(rows));
        check_forward_rows(shape(3, 7, 1, 4, 64), 1.0, Some(rows));
    }
}

#[test]
fn gradients_match_the_composed_path_at_every_rows_per_invocation() {
    for rows in ROWS {
        check_against_composed_rows(shape(3, 65, 7, 8, 32), Some(rows));
        check_against_composed_rows(shape(3, 7, 197, 64, 8), Some(rows));
    }
}

#[test]
#[should_panic(expected = "attention: 17 rows per invocation, the kernels hold 1 to 16")]
fn panics_on_too_many_rows_per_invocation() {
    let q = zeros(&[1, 2, 4]);
    attention_with_rows(&q, &q, &q, 17);
}

#[test]
fn forward_is_stable_for_large_scores() {
    // Scores up to ~ +-1000: exp would overflow without the running max, and the max
    // changes from one group of keys to the next.
    check_forward(shape(2, 9, 33, 8, 8), 90.0);
}

#[test]
fn head_dims_not_multiple_of_4_are_padded_and_match_reference() {
    check_forward(shape(3, 7, 9, 6, 5), 1.0);
    check_forward(shape(2, 5, 3, 1, 3), 1.0);
}

#[test]
fn heads_wider_than_64_take_the_composed_path_and_match_reference() {
    check_forward(shape(2, 7, 9, 80, 72), 1.0);
}

#[test]
fn forward_and_gradients_match_the_composed_path() {
    for &s in SHAPES {
        check_against_composed(s);
    }
    check_against_composed(shape(3, 7, 9, 6, 5)); // padded head dims
}

/// check_op on attention of shape `s`: forward vs reference and the three gradients vs
/// central finite differences of the f64 reference.
fn check_grad(s: Shape) {
    let data = inputs(s, 1.0, 21);
    let dims = [[s.b, s.lq, s.d], [s.b, s.lk, s.d], [s.b, s.lk, s.dv]];
    check_op(
        &format!("attention {s:?}"),
        &[
            (&dims[0], data[0].clone()),
            (&dims[1], data[1].clone()),
            (&dims[2], data[2].clone()),
        ],
        |t| Tensor::attention(&t[0], &t[1], &t[2]),
        move |x| reference(&x[0], &x[1], &x[2], s),
        1e-3,
    );
}

#[test]
fn gradients_match_finite_differences() {
    check_grad(shape(2, 3, 5, 4, 8));
    check_grad(shape(3, 6, 2, 8, 4)); // more queries than keys, 2 row groups
    check_grad(shape(1, 2, 3, 3, 2)); // padded head dims
}

#[test]
fn only_the_inputs_that_need_it_get_gradients() {
    let dev = device();
    let s = shape(2, 5, 6, 8, 4);
    let data = inputs(s, 1.0, 31);
    let q = Tensor::from_slice(&dev, &data[0], &[2, 5, 8]).set_requires_grad(true);
    let k = Tensor::from_slice(&dev, &data[1], &[2, 6, 8]);
    let v = Tensor::from_slice(&dev, &data[2], &[2, 6, 4]);
    Tensor::attention(&q, &k, &v).sum_all().backward();
    // sum over Dv of out_i = sum_j P_ij (sum_c v_jc): compare dq with the composed path's.
    let q2 = Tensor::from_slice(&dev, &data[0], &[2, 5, 8]).set_requires_grad(true);
    Tensor::attention_composed(&q2, &k, &v).sum_all().backward();
    let want = f64s(&q2.grad().unwrap().to_vec());
    assert_close(
        "dq with k, v constant",
        &q.grad().unwrap().to_vec(),
        &want,
        1e-5,
        1e-4,
    );
    assert!(k.grad().is_none() && v.grad().is_none());
}

fn zeros(shape: &[usize]) -> Tensor {
    Tensor::zeros(&device(), shape)
}

#[test]
#[should_panic(
    expected = "attention: q and k head dims differ: q [2, 3, 8], k [2, 4, 6], v [2, 4, 8]"
)]
fn panics_on_head_dim_mismatch() {
    let dev = device();
    let t = |s: &[usize]| Tensor::zeros(&dev, s);
    Tensor::attention(&t(&[2, 3, 8]), &t(&[2, 4, 6]), &t(&[2, 4, 8]));
}

#[test]
#[should_panic(expected = "attention: batch sizes differ: q [2, 3, 8], k [3, 4, 8], v [3, 4, 8]")]
fn panics_on_batch_mismatch() {
    let dev = device();
    let t = |s: &[usize]| Tensor::zeros(&dev, s);
    Tensor::attention(&t(&[2, 3, 8]), &t(&[3, 4, 8]), &t(&[3, 4, 8]));
}

#[test]
#[should_panic(
    expected = "attention: q, k, v must be rank 3 ([B, L, D]), got q [3, 8], k [2, 4, 8]"
)]
fn panics_on_rank_other_than_3() {
    let q = zeros(&[3, 8]);
    let k = Tensor::zeros(q.device(), &[2, 4, 8]);
    Tensor::attention(&q, &k, &k);
}

#[test]
#[should_panic(
    expected = "attention: k and v hold different numbers of keys: q [2, 3, 8], k [2, 4, 8], v [2, 5, 8]"
)]
fn panics_on_key_count_mismatch() {
    let dev = device();
    let t = |s: &[usize]| Tensor::zeros(&dev, s);
    Tensor::attention(&t(&[2, 3, 8]), &t(&[2, 4, 8]), &t(&[2, 5, 8]));
}

#[test]
fn forward_is_one_dispatch_and_backward_two() {
    let dev = device();
    let s = shape(3, 65, 7, 32, 32);
    let [q, k, v] = leaves(&dev, s, &inputs(s, 1.0, 41));
    let g = Tensor::from_slice(&dev, &uniform(3 * 65 * 32, -1.0, 1.0, 42), &[3, 65, 32]);
    let start = dev.stats().dispatches;
    let out = Tensor::attention(&q, &k, &v);
    let forward = dev.stats().dispatches - start;
    out.backward_with(g);
    let backward = dev.stats().dispatches - start - forward;
    assert_eq!(
        (forward, backward),
        (1, 2),
        "dispatches of the forward and the backward"
    );
}
