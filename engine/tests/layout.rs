//! Layout ops (permute, transpose, broadcast_to, narrow, squeeze, unsqueeze, flatten) against
//! plain f64 CPU references, gradients via check_op. concat and index_select are in
//! concat_index.rs.

mod common;
use common::*;
use engine::Tensor;

// ---- CPU references (row-major, f64) ----

fn permute_ref(x: &[f64], shape: &[usize], dims: &[usize]) -> Vec<f64> {
    let out_shape: Vec<usize> = dims.iter().map(|&d| shape[d]).collect();
    build(&out_shape, |idx| {
        let mut src = vec![0; shape.len()];
        for (k, &d) in dims.iter().enumerate() {
            src[d] = idx[k];
        }
        x[ravel(&src, shape)]
    })
}

fn narrow_ref(x: &[f64], shape: &[usize], axis: usize, start: usize, len: usize) -> Vec<f64> {
    let mut out_shape = shape.to_vec();
    out_shape[axis] = len;
    build(&out_shape, |idx| {
        let mut src = idx.to_vec();
        src[axis] += start;
        x[ravel(&src, shape)]
    })
}

/// All permutations of 0..n (Heap's algorithm would do; this recursion is clearer).
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            out.push(q);
        }
    }
    out
}

// ---- permute / transpose ----

#[test]
fn permute_2x3x4x5_in_all_24_orders_matches_reference() {
    let dev = device();
    let shape = [2, 3, 4, 5];
    let x = uniform(120, -1.0, 1.0, 1);
    let t = Tensor::from_slice(&dev, &x, &shape);
    let perms = permutations(4);
    assert_eq!(perms.len(), 24);
    for dims in &perms {
        let out = t.permute(dims);
        let want_shape: Vec<usize> = dims.iter().map(|&d| shape[d]).collect();
        assert_eq!(out.shape(), &want_shape[..], "permute {dims:?}");
        assert_close(
            &format!("permute {dims:?}"),
            &out.to_vec(),
            &permute_ref(&f64s(&x), &shape, dims),
            0.0,
            0.0,
        );
    }
}

#[test]
fn permute_rank5_3x5x7x2x4_spanning_workgroups_matches_reference() {
    let dev = device();
    let shape = [3, 5, 7, 2, 4]; // 840 elements: 4 workgroups
    let x = uniform(840, -1.0, 1.0, 2);
    let dims = [4, 2, 0, 3, 1];
    let out = Tensor::from_slice(&dev, &x, &shape).permute(&dims);
    assert_eq!(out.shape(), &[4, 7, 3, 2, 5]);
    assert_close(
        "permute rank 5",
        &out.to_vec(),
        &permute_ref(&f64s(&x), &shape, &dims),
        0.0,
        0.0,
    );
}

#[test]
fn permute_gradient_is_the_inverse_permutation() {
    let x = uniform(3 * 5 * 7 * 2, -1.0, 1.0, 3);
    let dims = [3, 0, 2, 1]; // not its own inverse (the inverse is [1, 3, 2, 0])
    check_op(
        "permute",
        &[(&[3, 5, 7, 2], x)],
        |t| t[0].permute(&dims),
        |x| permute_ref(&x[0], &[3, 5, 7, 2], &dims),
        1e-3,
    );
}

#[test]
fn transpose_with_negative_axes_matches_reference() {
    let dev = device();
    let shape = [3, 5, 7, 2];
    let x = uniform(210, -1.0, 1.0, 4);
    let out = Tensor::from_slice(&dev, &x, &shape).transpose(-1, 1);
    assert_eq!(out.shape(), &[3, 2, 7, 5]);
    assert_close(
        "transpose",
        &out.to_vec(),
        &permute_ref(&f64s(&x), &shape, &[0, 3, 2, 1]),
        0.0,
        0.0,
    );
}

#[test]
fn transpose_gradient_of_a_matrix_matches_finite_differences() {
    let x = uniform(5 * 7, -1.0, 1.0, 5);
    check_op(
        "transpose",
        &[(&[5, 7], x)],
        |t| t[0].transpose(0, 1),
        |x| permute_ref(&x[0], &[5, 7], &[1, 0]),
        1e-3,
    );
}

#[test]
#[should_panic(
    expected = "permute: [0, 0, 1] is not a permutation of the 3 axes of shape [2, 3, 4]"
)]
fn permute_with_a_repeated_axis_panics() {
    let dev = device();
    Tensor::zeros(&dev, &[2, 3, 4]).permute(&[0, 0, 1]);
}

#[test]
#[should_panic(expected = "permute: [1, 0] is not a permutation of the 3 axes")]
fn permute_with_too_few_axes_panics() {
    let dev = device();
    Tensor::zeros(&dev, &[2, 3, 4]).permute(&[1, 0]);
}

#[test]
#[should_panic(expected = "transpose: axis 2 out of range for a tensor of rank 2")]
fn transpose_with_an_axis_out_of_range_panics() {
    let dev = device();
    Tensor::zeros(&dev, &[2, 3]).transpose(0, 2);
}

// ---- broadcast_to ----

#[test]
fn broadcast_to_matches_reference_on_awkward_shapes() {
    let dev = device();
    let cases: [(&[usize], &[usize]); 5] = [
        (&[5, 1, 7], &[3, 5, 4, 7]), // 420 elements, a new leading axis and a size-1 axis
        (&[7], &[2, 3, 7]),
        (&[1], &[2, 3]),
        (&[], &[300]), // a scalar
        (&[3, 1, 1, 2], &[2, 3, 5, 7, 2]),
    ];
    for (k, (from, to)) in cases.iter().enumerate() {
        let x = uniform(from.iter().product(), -1.0, 1.0, 10 + k as u64);
        let out = Tensor::from_slice(&dev, &x, from).broadcast_to(to);
        assert_eq!(out.shape(), *to);
        let want = build(to, |idx| x[broadcast_index(from, to, idx)] as f64);
        assert_close(
            &format!("broadcast_to {from:?} -> {to:?}"),
            &out.to_vec(),
            &want,
            0.0,
            0.0,
        );
    }
}

#[test]
fn broadcast_to_its_own_shape_shares_the_buffer() {
    let dev = device();
    let t = tensor(&dev, &[3, 4], 1);
    assert!(t.broadcast_to(&[3, 4]).shares_buffer(&t));
}

#[test]
fn broadcast_to_gradient_sums_over_broadcast_axes() {
    let x = uniform(5 * 7, -1.0, 1.0, 6);
    let (from, to): (&[usize], &[usize]) = (&[5, 1, 7], &[3, 5, 4, 7]);
    check_op(
        "broadcast_to",
        &[(from, x)],
        |t| t[0].broadcast_to(to),
        |x| build(to, |idx| x[0][broadcast_index(from, to, idx)]),
        1e-3,
    );
}

#[test]
#[should_panic(expected = "broadcast_to: shape [3, 2] cannot be broadcast to [3, 4]")]
fn broadcast_to_an_incompatible_shape_panics() {
    let dev = device();
    Tensor::zeros(&dev, &[3, 2]).broadcast_to(&[3, 4]);
}

#[test]
#[should_panic(expected = "broadcast_to: shape [2, 3] cannot be broadcast to [3]")]
fn broadcast_to_fewer_axes_panics() {
    let dev = device();
    Tensor::zeros(&dev, &[2, 3]).broadcast_to(&[3]);
}

// ---- narrow ----

#[test]
fn narrow_matches_reference_on_every_axis() {
    let dev = device();
    let shape = [3, 5, 7, 2];
    let x = uniform(210, -1.0, 1.0, 7);
    let t = Tensor::from_slice(&dev, &x, &shape);
    for (axis, start, len) in [(0, 1, 2), (1, 2, 3), (2, 0, 7), (3, 1, 1), (2, 6, 1)] {
        let out = t.narrow(axis as isize, start, len);
        let want = narrow_ref(&f64s(&x), &shape, axis, start, len);
        assert_close(
            &format!("narrow axis {axis} {start}..+{len}"),
            &out.to_vec(),
            &want,
            0.0,
            0.0,
        );
    }
    // A negative axis, and a long 1-D slice spanning workgroups.
    assert_eq!(t.narrow(-2, 3, 2).to_vec(), t.narrow(2, 3, 2).to_vec());
    let long = uniform(700, -1.0, 1.0, 8);
    let out = Tensor::from_slice(&dev, &long, &[700]).narrow(0, 17, 600);
    assert_close("narrow 1-D", &out.to_vec(), &f64s(&long[17..617]), 0.0, 0.0);
}

#[test]
fn narrow_gradient_is_zero_outside_the_window() {
    let shape = [3, 5, 7];
    let x = uniform(105, -1.0, 1.0, 9);
    check_op(
        "narrow",
        &[(&shape, x)],
        |t| t[0].narrow(1, 1, 3),
        |x| narrow_ref(&x[0], &shape, 1, 1, 3),
        1e-3,
    );
}

#[test]
fn narrow_gradient_on_a_large_tensor_spans_workgroups() {
    let dev = device();
    let x = Tensor::from_slice(&dev, &uniform(6 * 130, -1.0, 1.0, 10), &[6, 130])
        .set_requires_grad(true);
    let y = x.narrow(1, 5, 100); // [6, 100]
    let g = uniform(600, -1.0, 1.0, 11);
    y.backward_with(Tensor::from_slice(&dev, &g, &[6, 100]));
    let want = build(&[6, 130], |i| {
        if (5..105).contains(&i[1]) {
            g[i[0] * 100 + i[1] - 5] as f64
        } else {
            0.0
        }
    });
    assert_close(
        "narrow backward",
        &x.grad().unwrap().to_vec(),
        &want,
        0.0,
        0.0,
    );
}

#[test]
#[should_panic(expected = "narrow: start 4 + length 2 exceeds size 5 of axis 1 of shape [3, 5]")]
fn narrow_past_the_end_panics() {
    let dev = device();
    Tensor::zeros(&dev, &[3, 5]).narrow(1, 4, 2);
}

// ---- squeeze, unsqueeze, flatten ----

#[test]
fn unsqueeze_squeeze_and_flatten_change_only_the_shape() {
    let dev = device();
    let x = uniform(30, -1.0, 1.0, 40);
    let t = Tensor::from_slice(&dev, &x, &[2, 3, 5]);
    assert_eq!(t.unsqueeze(0).shape(), &[1, 2, 3, 5]);
    assert_eq!(t.unsqueeze(1).shape(), &[2, 1, 3, 5]);
    assert_eq!(t.unsqueeze(-1).shape(), &[2, 3, 5, 1]);
    assert_eq!(t.unsqueeze(3).shape(), &[2, 3, 5, 1]);
    assert_eq!(t.unsqueeze(1).squeeze(1).shape(), &[2, 3, 5]);
    assert_eq!(t.unsqueeze(-1).squeeze(-1).shape(), &[2, 3, 5]);
    assert_eq!(t.flatten().shape(), &[30]);
    assert_eq!(t.unsqueeze(2).flatten().to_vec(), x);
    assert!(t.flatten().shares_buffer(&t));
}

#[test]
fn unsqueeze_then_flatten_gradient_passes_through() {
    let x = uniform(30, -1.0, 1.0, 41);
    check_op(
        "unsqueeze+flatten",
        &[(&[2, 3, 5], x)],
        |t| t[0].unsqueeze(1).squeeze(1).flatten().mul_scalar(2.0),
        |x| x[0].iter().map(|v| 2.0 * v).collect(),
        1e-3,
    );
}

#[test]
#[should_panic(expected = "squeeze: axis 1 of shape [2, 3] has size 3, not 1")]
fn squeeze_of_an_axis_larger_than_one_panics() {
    let dev = device();
    Tensor::zeros(&dev, &[2, 3]).squeeze(1);
}

#[test]
#[should_panic(
    expected = "unsqueeze: axis 3 out of range for a tensor of rank 2 (allowed: -3..=2)"
)]
fn unsqueeze_past_the_end_panics() {
    let dev = device();
    Tensor::zeros(&dev, &[2, 3]).unsqueeze(3);
}
