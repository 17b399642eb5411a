//! concat and index_select (the embedding lookup, with its scatter-add backward) against
//! plain f64 CPU references, gradients via check_op. The other layout ops are in layout.rs.

mod common;
use common::*;
use engine::Tensor;

// ---- CPU references (row-major, f64) ----

fn concat_ref(xs: &[Vec<f64>], shapes: &[&[usize]], axis: usize) -> Vec<f64> {
    let mut out_shape = shapes[0].to_vec();
    out_shape[axis] = shapes.iter().map(|s| s[axis]).sum();
    build(&out_shape, |idx| {
        let mut src = idx.to_vec();
        for (x, s) in xs.iter().zip(shapes) {
            if src[axis] < s[axis] {
                return x[ravel(&src, s)];
            }
            src[axis] -= s[axis];
        }
        unreachable!()
    })
}

fn index_select_ref(x: &[f64], shape: &[usize], axis: usize, indices: &[u32]) -> Vec<f64> {
    let mut out_shape = shape.to_vec();
    out_shape[axis] = indices.len();
    build(&out_shape, |idx| {
        let mut src = idx.to_vec();
        src[axis] = indices[idx[axis]] as usize;
        x[ravel(&src, shape)]
    })
}

// ---- concat ----

#[test]
fn concat_along_each_axis_matches_reference() {
    let dev = device();
    let shapes: [&[usize]; 3] = [&[3, 2, 7], &[3, 5, 7], &[3, 1, 7]];
    for axis in 0..3 {
        // Make the inputs agree everywhere but `axis`.
        let shapes: Vec<Vec<usize>> = shapes
            .iter()
            .map(|s| {
                (0..3)
                    .map(|d| if d == axis { s[1] } else { [3, 4, 7][d] })
                    .collect()
            })
            .collect();
        let xs: Vec<Vec<f32>> = shapes
            .iter()
            .enumerate()
            .map(|(k, s)| uniform(s.iter().product(), -1.0, 1.0, k as u64))
            .collect();
        let ts: Vec<Tensor> = xs
            .iter()
            .zip(&shapes)
            .map(|(x, s)| Tensor::from_slice(&dev, x, s))
            .collect();
        let refs: Vec<&Tensor> = ts.iter().collect();
        let out = Tensor::concat(&refs, axis as isize - 3); // negative axis
        let shape_refs: Vec<&[usize]> = shapes.iter().map(|s| &s[..]).collect();
        let want = concat_ref(
            &xs.iter().map(|x| f64s(x)).collect::<Vec<_>>(),
            &shape_refs,
            axis,
        );
        assert_close(
            &format!("concat axis {axis}"),
            &out.to_vec(),
            &want,
            0.0,
            0.0,
        );
    }
}

#[test]
fn concat_of_long_vectors_spans_workgroups() {
    let dev = device();
    let (a, b) = (uniform(300, -1.0, 1.0, 1), uniform(333, -1.0, 1.0, 2));
    let out = Tensor::concat(
        &[
            &Tensor::from_slice(&dev, &a, &[300]),
            &Tensor::from_slice(&dev, &b, &[333]),
        ],
        0,
    );
    let want: Vec<f64> = a.iter().chain(&b).map(|&v| v as f64).collect();
    assert_close("concat 1-D", &out.to_vec(), &want, 0.0, 0.0);
}

#[test]
fn concat_gradient_is_each_inputs_slice() {
    let shapes: [&[usize]; 3] = [&[2, 3, 4], &[2, 1, 4], &[2, 5, 4]];
    let inputs: Vec<(&[usize], Vec<f32>)> = shapes
        .iter()
        .enumerate()
        .map(|(k, s)| (*s, uniform(s.iter().product(), -1.0, 1.0, 20 + k as u64)))
        .collect();
    check_op(
        "concat",
        &inputs,
        |t| Tensor::concat(&[&t[0], &t[1], &t[2]], 1),
        |x| concat_ref(x, &shapes, 1),
        1e-3,
    );
}

#[test]
fn concat_with_a_constant_gives_a_gradient_only_to_the_parameter() {
    let dev = device();
    let w = Tensor::from_slice(&dev, &[1.0, 2.0], &[1, 2]).set_requires_grad(true);
    let c = Tensor::zeros(&dev, &[2, 2]);
    let y = Tensor::concat(&[&c, &w], 0); // [3, 2]
    y.backward_with(Tensor::from_slice(
        &dev,
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        &[3, 2],
    ));
    assert_eq!(w.grad().unwrap().to_vec(), vec![5.0, 6.0]);
    assert!(c.grad().is_none());
}

#[test]
#[should_panic(expected = "concat: shapes [[2, 3], [3, 3]] differ outside axis 1")]
fn concat_with_mismatched_shapes_panics() {
    let dev = device();
    Tensor::concat(
        &[&Tensor::zeros(&dev, &[2, 3]), &Tensor::zeros(&dev, &[3, 3])],
        1,
    );
}

#[test]
#[should_panic(expected = "concat: shapes [[2, 3], [2, 3, 1]] differ outside axis 0")]
fn concat_with_different_ranks_panics() {
    let dev = device();
    Tensor::concat(
        &[
            &Tensor::zeros(&dev, &[2, 3]),
            &Tensor::zeros(&dev, &[2, 3, 1]),
        ],
        0,
    );
}

// ---- index_select ----

#[test]
fn index_select_embedding_lookup_matches_reference() {
    let dev = device();
    let table = uniform(11 * 37, -1.0, 1.0, 30); // [V=11, D=37]
    let idx: Vec<u32> = (0..20)
        .map(|j| (j * 7 % 11) as u32)
        .chain([3, 3, 10, 0])
        .collect(); // N=24: 888 outputs
    let out = Tensor::from_slice(&dev, &table, &[11, 37]).index_select(0, &idx);
    assert_eq!(out.shape(), &[24, 37]);
    assert_close(
        "embedding lookup",
        &out.to_vec(),
        &index_select_ref(&f64s(&table), &[11, 37], 0, &idx),
        0.0,
        0.0,
    );
}

#[test]
fn index_select_along_middle_and_last_axes_matches_reference() {
    let dev = device();
    let shape = [3, 5, 7, 2];
    let x = uniform(210, -1.0, 1.0, 31);
    let t = Tensor::from_slice(&dev, &x, &shape);
    for (axis, idx) in [
        (1, vec![4u32, 0, 0, 2]),
        (2, vec![6, 1]),
        (3, vec![1, 1, 0, 1, 0]),
    ] {
        let out = t.index_select(axis as isize, &idx);
        assert_close(
            &format!("index_select axis {axis}"),
            &out.to_vec(),
            &index_select_ref(&f64s(&x), &shape, axis, &idx),
            0.0,
            0.0,
        );
    }
    assert_eq!(
        t.index_select(-1, &[1, 0]).to_vec(),
        t.index_select(3, &[1, 0]).to_vec()
    );
}

#[test]
fn index_select_repeated_indices_accumulate_their_gradients() {
    let dev = device();
    let table =
        Tensor::from_slice(&dev, &uniform(12, -1.0, 1.0, 32), &[4, 3]).set_requires_grad(true);
    let y = table.index_select(0, &[2, 2, 0, 2]); // [4, 3]
    let g: Vec<f32> = (0..12).map(|i| i as f32).collect();
    y.backward_with(Tensor::from_slice(&dev, &g, &[4, 3]));
    // g rows: [0,1,2], [3,4,5], [6,7,8], [9,10,11]. Table row 2 is read by positions 0, 1, 3,
    // row 0 by position 2, rows 1 and 3 by none.
    let want = vec![
        6.0,
        7.0,
        8.0,
        0.0,
        0.0,
        0.0,
        0.0 + 3.0 + 9.0,
        1.0 + 4.0 + 10.0,
        2.0 + 5.0 + 11.0,
        0.0,
        0.0,
        0.0,
    ];
    assert_eq!(table.grad().unwrap().to_vec(), want);
}

#[test]
fn index_select_gradient_with_repeats_matches_finite_differences() {
    let shape = [3, 11, 5];
    let x = uniform(165, -1.0, 1.0, 33);
    let idx = [10u32, 0, 3, 3, 7, 3, 0];
    check_op(
        "index_select axis 1",
        &[(&shape, x)],
        |t| t[0].index_select(1, &idx),
        |x| index_select_ref(&x[0], &shape, 1, &idx),
        1e-3,
    );
}

#[test]
fn index_select_gradient_on_a_large_table_spans_workgroups() {
    let shape = [3, 100]; // dx has 300 elements
    let x = uniform(300, -1.0, 1.0, 34);
    let idx: Vec<u32> = (0..150).map(|j| (j * 37 % 100) as u32).collect();
    check_op(
        "index_select last axis",
        &[(&shape, x)],
        |t| t[0].index_select(-1, &idx),
        |x| index_select_ref(&x[0], &shape, 1, &idx),
        1e-3,
    );
}

#[test]
fn index_select_with_no_indices_gives_an_empty_tensor_and_zero_gradient() {
    let dev = device();
    let table = tensor(&dev, &[4, 3], 35).set_requires_grad(true);
    let y = table.index_select(0, &[]);
    assert_eq!(y.shape(), &[0, 3]);
    assert_eq!(y.numel(), 0); // (Tensor::to_vec of an empty tensor trips bytemuck's alignment check)
    y.backward_with(Tensor::zeros(&dev, &[0, 3]));
    assert_eq!(table.grad().unwrap().to_vec(), vec![0.0; 12]);
}

#[test]
#[should_panic(expected = "index_select: index 12 out of range for axis 0 of size 11")]
fn index_select_with_an_index_out_of_range_panics() {
    let dev = device();
    Tensor::zeros(&dev, &[11, 4]).index_select(0, &[3, 12, 0]);
}
