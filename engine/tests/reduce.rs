//! sum / mean / max over axes, sum_all / mean_all, softmax / log_softmax, mse_loss:
//! forward against f64 CPU references, every backward with check_op.
mod common;
use common::*;
use engine::Tensor;

/// f64 reference of sum/mean/max of `x` (shape `shape`) over resolved `axes`, in the output's
/// row-major order (the same with or without keepdim).
fn reduce_ref(x: &[f64], shape: &[usize], axes: &[usize], op: &str) -> Vec<f64> {
    let keep: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect();
    let init = if op == "max" { f64::NEG_INFINITY } else { 0.0 };
    let mut out = vec![init; keep.iter().product()];
    for (i, &v) in x.iter().enumerate() {
        let o = broadcast_index(&keep, shape, &unravel(i, shape));
        out[o] = if op == "max" {
            out[o].max(v)
        } else {
            out[o] + v
        };
    }
    if op == "mean" {
        let count: usize = axes.iter().map(|&a| shape[a]).product();
        out.iter_mut().for_each(|o| *o /= count as f64);
    }
    out
}

fn run_op(t: &Tensor, op: &str, axes: &[isize], keepdim: bool) -> Tensor {
    match op {
        "sum" => t.sum(axes, keepdim),
        "mean" => t.mean(axes, keepdim),
        _ => t.max(axes, keepdim),
    }
}

fn resolve(axes: &[isize], rank: usize) -> Vec<usize> {
    axes.iter()
        .map(|&a| {
            if a < 0 {
                (a + rank as isize) as usize
            } else {
                a as usize
            }
        })
        .collect()
}

/// Checks op over `axes` of a random tensor of `shape`, output shape and values, both keepdims.
fn check_forward(op: &str, shape: &[usize], axes: &[isize], seed: u64) {
    check_forward_on(&device(), op, shape, axes, seed)
}

fn check_forward_on(dev: &engine::Device, op: &str, shape: &[usize], axes: &[isize], seed: u64) {
    let dev = dev.clone();
    let n: usize = shape.iter().product();
    let x = uniform(n, -1.0, 1.0, seed);
    let t = Tensor::from_slice(&dev, &x, shape);
    let ax = resolve(axes, shape.len());
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let want = reduce_ref(&x64, shape, &ax, op);
    for keepdim in [false, true] {
        let out = run_op(&t, op, axes, keepdim);
        let want_shape: Vec<usize> = shape
            .iter()
            .enumerate()
            .filter_map(|(i, &d)| {
                if ax.contains(&i) {
                    keepdim.then_some(1)
                } else {
                    Some(d)
                }
            })
            .collect();
        assert_eq!(
            out.shape(),
            &want_shape[..],
            "{op} {shape:?} axes {axes:?} keepdim {keepdim}"
        );
        assert_close(
            &format!("{op} {shape:?} axes {axes:?} keepdim {keepdim}"),
            &out.to_vec(),
            &want,
            1e-4,
            1e-4,
        );
    }
}

#[test]
fn sum_mean_max_over_each_axis_match_reference() {
    // 257 and 300: past one workgroup of 256 along the reduced axis, and as inner size.
    for op in ["sum", "mean", "max"] {
        for axis in 0..3 {
            check_forward(op, &[3, 257, 300], &[axis], 1 + axis as u64);
        }
    }
}

#[test]
fn sum_mean_max_over_negative_axes_match_reference() {
    for op in ["sum", "mean", "max"] {
        check_forward(op, &[5, 7, 300], &[-1], 2);
        check_forward(op, &[5, 7, 300], &[-3], 3);
        check_forward(op, &[5, 7, 300], &[-1, 0], 4);
    }
}

#[test]
fn sum_mean_max_over_several_axes_match_reference() {
    for op in ["sum", "mean", "max"] {
        check_forward(op, &[4, 5, 6, 70], &[0, 2], 5); // apart
        check_forward(op, &[4, 5, 6, 70], &[1, 2], 6); // adjacent: merged into one pass
        check_forward(op, &[4, 5, 6, 70], &[3, 1], 7); // unsorted
        check_forward(op, &[4, 5, 6, 70], &[0, 1, 2, 3], 8); // all
        check_forward(op, &[4, 1, 6, 1], &[1, 2, 3], 9); // with axes of size 1
    }
}

#[test]
fn sum_all_and_mean_all_are_rank_0() {
    let dev = device();
    let x = uniform(1000, -1.0, 1.0, 10);
    let t = Tensor::from_slice(&dev, &x, &[10, 100]);
    let s = t.sum_all();
    let m = t.mean_all();
    assert_eq!(s.shape(), &[] as &[usize]);
    assert_eq!(m.shape(), &[] as &[usize]);
    let want: f64 = x.iter().map(|&v| v as f64).sum();
    assert_close("sum_all", &s.to_vec(), &[want], 1e-4, 1e-5);
    assert_close("mean_all", &m.to_vec(), &[want / 1000.0], 1e-6, 1e-5);
    // A rank-0 input reduces to itself.
    let r0 = Tensor::scalar(&dev, 2.5);
    assert_eq!(r0.sum_all().to_vec(), vec![2.5]);
    assert_eq!(r0.mean_all().shape(), &[] as &[usize]);
}

#[test]
fn empty_axes_and_size_1_axes_reduce_without_a_copy() {
    let dev = device();
    let t = tensor(&dev, &[3, 1, 4], 11);
    let same = t.sum(&[], false);
    assert!(same.shares_buffer(&t));
    assert_eq!(same.shape(), &[3, 1, 4]);
    let squeezed = t.max(&[1], false);
    assert!(squeezed.shares_buffer(&t));
    assert_eq!(squeezed.shape(), &[3, 4]);
    assert_eq!(squeezed.to_vec(), t.to_vec());
}

#[test]
fn sum_of_1m_values_matches_f64_reference() {
    let dev = device();
    let n = 1 << 20;
    let x = uniform(n, 0.0, 1.0, 12);
    let want: f64 = x.iter().map(|&v| v as f64).sum();
    let got = Tensor::from_slice(&dev, &x, &[n]).sum_all().item() as f64;
    // A plain sequential f32 sum drifts by ~1e-5 relative here; chunked tree sums much less.
    assert!(
        ((got - want) / want).abs() < 2e-6,
        "sum of 1M: got {got}, want {want}"
    );
    let mean = Tensor::from_slice(&dev, &x, &[n]).mean(&[0], false).item() as f64;
    assert!(
        (mean - want / n as f64).abs() < 2e-6,
        "mean of 1M: got {mean}"
    );
}

#[test]
fn long_axis_split_into_chunks_matches_reference() {
    // Rows: 3 rows of 300_000 (chunked row reduction). Columns: axis 0 of [100_000, 3].
    check_forward("sum", &[3, 300_000], &[1], 13);
    check_forward("max", &[3, 300_000], &[1], 14);
    check_forward("sum", &[100_000, 3], &[0], 15);
    check_forward("max", &[100_000, 3], &[0], 16);
    check_forward("mean", &[2, 50_000, 5], &[1], 17);
    // Either side of the CPU adapters' one-pass limit (256K values, 4096 per output).
    check_forward("sum", &[4096, 64], &[0], 24);
    check_forward("sum", &[4097, 3], &[0], 25);
    check_forward("max", &[4096, 65], &[0], 26);
}

/// Long rows through both strategies, whichever the adapter picks by default: a workgroup
/// per row with a tree in workgroup memory, and one invocation per output and chunk.
#[test]
fn long_rows_match_reference_with_and_without_workgroup_trees() {
    with_and_without_trees(|dev| {
        for op in ["sum", "max", "mean"] {
            check_forward_on(dev, op, &[130, 1027], &[1], 18);
            check_forward_on(dev, op, &[3, 70_000], &[1], 19);
        }
    });
}

/// Runs `check` on a device with workgroup trees for long rows and on one without
/// (`DeviceOptions::workgroup_reductions`), whichever the adapter picks by default.
fn with_and_without_trees(check: impl Fn(&engine::Device)) {
    for tree in [false, true] {
        let dev = engine::Device::with_options(engine::DeviceOptions {
            workgroup_reductions: Some(tree),
            ..Default::default()
        })
        .unwrap();
        check(&dev);
    }
}

#[test]
#[should_panic(expected = "sum: axis 2 out of range for shape [2, 3]")]
fn sum_out_of_range_axis_panics_naming_op_and_shape() {
    let dev = device();
    tensor(&dev, &[2, 3], 1).sum(&[2], false);
}

#[test]
#[should_panic(expected = "max: axis -1 given twice in axes [1, -1] for shape [2, 3]")]
fn max_duplicate_axis_panics_naming_op_and_shape() {
    let dev = device();
    tensor(&dev, &[2, 3], 1).max(&[1, -1], false);
}

fn grad_check(op: &'static str, shape: &[usize], axes: &'static [isize], keepdim: bool) {
    let n: usize = shape.iter().product();
    let sh = shape.to_vec();
    let ax = resolve(axes, shape.len());
    check_op(
        &format!("{op} {shape:?} axes {axes:?} keepdim {keepdim}"),
        &[(shape, uniform(n, -1.0, 1.0, 20))],
        |t| run_op(&t[0], op, axes, keepdim),
        |x| reduce_ref(&x[0], &sh, &ax, op),
        2e-3,
    );
}

#[test]
fn sum_mean_max_gradients_match_finite_differences() {
    for op in ["sum", "mean", "max"] {
        grad_check(op, &[3, 4, 5], &[1], false);
        grad_check(op, &[3, 4, 5], &[-1], true);
        grad_check(op, &[3, 4, 5], &[0, 2], true);
        grad_check(op, &[3, 4, 5], &[0, 1, 2], false);
        grad_check(op, &[2, 300], &[1], false); // past one workgroup
    }
}

#[test]
fn sum_all_and_mean_all_gradients_match_finite_differences() {
    let x = uniform(24, -1.0, 1.0, 21);
    check_op(
        "sum_all",
        &[(&[2, 3, 4], x.clone())],
        |t| t[0].sum_all(),
        |x| vec![x[0].iter().sum()],
        1e-3,
    );
    check_op(
        "mean_all",
        &[(&[2, 3, 4], x)],
        |t| t[0].mean_all(),
        |x| vec![x[0].iter().sum::<f64>() / 24.0],
        1e-3,
    );
}

#[test]
fn max_gradient_is_split_evenly_among_ties() {
    let dev = device();
    let x = Tensor::from_slice(
        &dev,
        &[1.0, 3.0, 3.0, 2.0, 2.0, 2.0, 5.0, 1.0, 0.0],
        &[3, 3],
    )
    .set_requires_grad(true);
    x.max(&[1], false)
        .backward_with(Tensor::from_slice(&dev, &[1.0, 3.0, 2.0], &[3]));
    // Row 0: two maxima share 1; row 1: three share 3; row 2: one takes 2.
    let want = [0.0, 0.5, 0.5, 1.0, 1.0, 1.0, 2.0, 0.0, 0.0];
    assert_close(
        "max ties gradient",
        &x.grad().unwrap().to_vec(),
        &want,
        1e-6,
        1e-6,
    );
}

/// f64 reference softmax / log_softmax over rows of length n.
fn softmax_ref(x: &[f64], n: usize, log: bool) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(n) {
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = row.iter().map(|v| (v - m).exp()).sum();
        out.extend(row.iter().map(|v| {
            if log {
                v - m - s.ln()
            } else {
                (v - m).exp() / s
            }
        }));
    }
    out
}

/// Each row length through both strategies for long rows, whichever the adapter picks by
/// default: thread-per-row always for 1 and 3 (300 rows span two workgroups), and for 64, 257
/// and 1000 a workgroup per row with a tree in workgroup memory, or one invocation per row.
#[test]
fn softmax_and_log_softmax_match_reference_for_row_lengths() {
    with_and_without_trees(softmax_rows_match_reference);
}

fn softmax_rows_match_reference(dev: &engine::Device) {
    for (rows, n) in [(300, 1), (300, 3), (300, 64), (5, 257), (4, 1000)] {
        let x = uniform(rows * n, -4.0, 4.0, n as u64);
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let t = Tensor::from_slice(dev, &x, &[rows, n]);
        assert_close(
            &format!("softmax [{rows}, {n}]"),
            &t.softmax().to_vec(),
            &softmax_ref(&x64, n, false),
            1e-6,
            1e-4,
        );
        assert_close(
            &format!("log_softmax [{rows}, {n}]"),
            &t.log_softmax().to_vec(),
            &softmax_ref(&x64, n, true),
            1e-4,
            1e-5,
        );
    }
}

/// Both strategies for the long row (as above): a workgroup tree, or one invocation per row.
#[test]
fn softmax_of_large_inputs_does_not_overflow() {
    with_and_without_trees(large_softmax_inputs_do_not_overflow);
}

fn large_softmax_inputs_do_not_overflow(dev: &engine::Device) {
    for n in [3, 257] {
        // Values near 1000: exp(1000) overflows f32; the row max must be subtracted first.
        let x: Vec<f32> = uniform(2 * n, 0.0, 5.0, 30)
            .iter()
            .map(|v| v + 1000.0)
            .collect();
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let t = Tensor::from_slice(dev, &x, &[2, n]);
        assert_close(
            &format!("softmax of ~1000, n={n}"),
            &t.softmax().to_vec(),
            &softmax_ref(&x64, n, false),
            1e-6,
            1e-4,
        );
        assert_close(
            &format!("log_softmax of ~1000, n={n}"),
            &t.log_softmax().to_vec(),
            &softmax_ref(&x64, n, true),
            1e-4,
            1e-5,
        );
        let neg: Vec<f32> = x.iter().map(|v| -v).collect();
        let neg64: Vec<f64> = neg.iter().map(|&v| v as f64).collect();
        let t = Tensor::from_slice(dev, &neg, &[2, n]);
        assert_close(
            &format!("softmax of ~-1000, n={n}"),
            &t.softmax().to_vec(),
            &softmax_ref(&neg64, n, false),
            1e-6,
            1e-4,
        );
    }
}

#[test]
fn softmax_and_log_softmax_gradients_match_finite_differences() {
    for (shape, n) in [(vec![2, 3, 5], 5), (vec![2, 40], 40), (vec![3, 1], 1)] {
        let numel: usize = shape.iter().product();
        let x = uniform(numel, -2.0, 2.0, 31);
        check_op(
            "softmax",
            &[(&shape, x.clone())],
            |t| t[0].softmax(),
            |x| softmax_ref(&x[0], n, false),
            2e-3,
        );
        check_op(
            "log_softmax",
            &[(&shape, x)],
            |t| t[0].log_softmax(),
            |x| softmax_ref(&x[0], n, true),
            2e-3,
        );
    }
}

/// Millions of elements, fewer than one workgroup, and either side of one chunk; counts that
/// are multiples of 4 (on CPU adapters the texture kernel) and not; both read paths.
#[test]
fn mse_loss_of_millions_matches_reference() {
    for (path, dev) in devices_for_reads() {
        // 4096 is the largest loss one chunk sums (one dispatch), 4097 the smallest in two.
        let sizes = [(3_000_017, 2e-6), (3_000_016, 2e-6), (7, 1e-6), (8, 1e-6)];
        let chunk_edges = [(2000, 1e-6), (4096, 1e-6), (4097, 1e-6)];
        for (n, tol) in sizes.into_iter().chain(chunk_edges) {
            let a = uniform(n, -1.0, 1.0, 40);
            let b = uniform(n, -1.0, 1.0, 41);
            let want: f64 = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
                .sum::<f64>()
                / n as f64;
            let (ta, tb) = (
                Tensor::from_slice(&dev, &a, &[n]),
                Tensor::from_slice(&dev, &b, &[n]),
            );
            let loss = ta.mse_loss(&tb);
            assert_eq!(loss.shape(), &[] as &[usize]);
            let what = format!("mse_loss of {n}, {path}");
            assert_close(&what, &loss.to_vec(), &[want], 1e-7, tol);
        }
    }
}

#[test]
fn mse_loss_gradients_match_finite_differences() {
    let mse = |x: &[Vec<f64>]| {
        vec![
            x[0].iter()
                .zip(&x[1])
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                / x[0].len() as f64,
        ]
    };
    check_op(
        "mse_loss",
        &[
            (&[3, 5], uniform(15, -1.0, 1.0, 44)),
            (&[3, 5], uniform(15, -1.0, 1.0, 45)),
        ],
        |t| t[0].mse_loss(&t[1]),
        mse,
        1e-3,
    );
}

#[test]
fn mse_loss_gradient_of_many_elements_is_2_diff_over_n() {
    // Finite differences cannot resolve gradients of size ~1/n; compare with the closed form.
    let dev = device();
    let n = 70_001;
    let (a, b) = (uniform(n, -1.0, 1.0, 46), uniform(n, -1.0, 1.0, 47));
    let ta = Tensor::from_slice(&dev, &a, &[n]).set_requires_grad(true);
    let tb = Tensor::from_slice(&dev, &b, &[n]).set_requires_grad(true);
    ta.mse_loss(&tb).backward_with(Tensor::scalar(&dev, 3.0));
    // d/da = 2 (a - b) / n * g, d/db = -d/da, with g = 3.
    let want: Vec<f64> = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| 6.0 * (x as f64 - y as f64) / n as f64)
        .collect();
    assert_close(
        "mse_loss d/da",
        &ta.grad().unwrap().to_vec(),
        &want,
        1e-9,
        1e-5,
    );
    let neg: Vec<f64> = want.iter().map(|v| -v).collect();
    assert_close(
        "mse_loss d/db",
        &tb.grad().unwrap().to_vec(),
        &neg,
        1e-9,
        1e-5,
    );
}

#[test]
#[should_panic(expected = "mse_loss: input shape [2, 3] and target shape [3, 2] differ")]
fn mse_loss_shape_mismatch_panics_naming_both_shapes() {
    let dev = device();
    tensor(&dev, &[2, 3], 1).mse_loss(&tensor(&dev, &[3, 2], 2));
}

#[test]
fn short_rows_over_the_last_axis_match_reference() {
    // Rows shorter than a workgroup take one invocation per output: [1000, 3] and [37, 255].
    let dev = device();
    for shape in [[1000usize, 3], [37, 255]] {
        let n = shape[0] * shape[1];
        let x = uniform(n, -1.0, 1.0, 5);
        let t = engine::Tensor::from_slice(&dev, &x, &shape);
        let want_sum: Vec<f64> = x
            .chunks(shape[1])
            .map(|r| r.iter().map(|&v| v as f64).sum())
            .collect();
        let want_max: Vec<f64> = x
            .chunks(shape[1])
            .map(|r| r.iter().fold(f64::MIN, |m, &v| m.max(v as f64)))
            .collect();
        assert_close(
            &format!("sum {shape:?}"),
            &t.sum(&[-1], false).to_vec(),
            &want_sum,
            1e-5,
            1e-5,
        );
        assert_close(
            &format!("max {shape:?}"),
            &t.max(&[-1], false).to_vec(),
            &want_max,
            0.0,
            0.0,
        );
    }
}

/// `reduce_cols` reading x from its buffer and through a flat texture, whichever the adapter
/// picks by default: columns, short rows and a chunked long axis.
#[test]
fn column_reductions_match_reference_with_buffer_and_texture_reads() {
    for (_, dev) in devices_for_reads() {
        for op in ["sum", "max", "mean"] {
            check_forward_on(&dev, op, &[37, 5, 11], &[1], 20);
            check_forward_on(&dev, op, &[1024, 256], &[0], 21);
            check_forward_on(&dev, op, &[40, 3], &[1], 22);
            check_forward_on(&dev, op, &[5000, 3], &[0], 23);
        }
    }
}
