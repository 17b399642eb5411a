//! matmul and matmul_t against an f64 CPU reference, their gradients via check_op, and the
//! panic messages. Shapes with K % 4 == 0, N % 4 == 0 (and M % 4 == 0 under trans_a) run a
//! vec4 kernel `matmul_tiled`, the others `matmul_scalar`, and products with a side of at most
//! 8 `matmul_thin`; except that on CPU adapters with subgroups, unbatched (or shared-B)
//! products run `matmul_texture`. Tests that name a kernel force it through
//! `DeviceOptions`, so each runs on every adapter that has it.
mod common;
use common::*;
use engine::Tensor;

/// op(a) @ op(b) in f64. a is [..., M, K] (or [..., K, M] when ta), b is [..., K, N] (or
/// [..., N, K] when tb); batch axes equal, or one operand rank 2 and shared. out is [batch, M, N].
fn reference(a: &[f64], sa: &[usize], b: &[f64], sb: &[usize], ta: bool, tb: bool) -> Vec<f64> {
    let (ra, ca) = (sa[sa.len() - 2], sa[sa.len() - 1]);
    let (rb, cb) = (sb[sb.len() - 2], sb[sb.len() - 1]);
    let (m, k) = if ta { (ca, ra) } else { (ra, ca) };
    let n = if tb { rb } else { cb };
    let batch = if sa.len() > 2 {
        a.len() / (m * k)
    } else {
        b.len() / (k * n)
    };
    let a_bs = if sa.len() > 2 { m * k } else { 0 };
    let b_bs = if sb.len() > 2 { k * n } else { 0 };
    let mut out = vec![0.0; batch * m * n];
    for z in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for kk in 0..k {
                    let x = if ta {
                        a[z * a_bs + kk * m + i]
                    } else {
                        a[z * a_bs + i * k + kk]
                    };
                    let y = if tb {
                        b[z * b_bs + j * k + kk]
                    } else {
                        b[z * b_bs + kk * n + j]
                    };
                    s += x * y;
                }
                out[(z * m + i) * n + j] = s;
            }
        }
    }
    out
}

/// Inputs in [-1, 1): each output sums K products, so the f32 error grows with K.
fn tol(k: usize) -> f64 {
    1e-5 + 2e-6 * k as f64
}

/// Runs matmul_t on seeded inputs of these shapes and compares with the reference.
fn check_forward(sa: &[usize], sb: &[usize], ta: bool, tb: bool) {
    let dev = device();
    let a = tensor(&dev, sa, 1);
    let b = tensor(&dev, sb, 2);
    let got = a.matmul_t(&b, ta, tb);
    let f64s = |t: &Tensor| t.to_vec().iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let want = reference(&f64s(&a), sa, &f64s(&b), sb, ta, tb);
    let k = if ta {
        sa[sa.len() - 2]
    } else {
        sa[sa.len() - 1]
    };
    let what = format!("{sa:?} x {sb:?} (trans_a {ta}, trans_b {tb})");
    assert_close(&what, &got.to_vec(), &want, tol(k), tol(k));
    let (m, n) = (
        if ta {
            sa[sa.len() - 1]
        } else {
            sa[sa.len() - 2]
        },
        if tb {
            sb[sb.len() - 2]
        } else {
            sb[sb.len() - 1]
        },
    );
    let batch = if sa.len() > 2 {
        &sa[..sa.len() - 2]
    } else {
        &sb[..sb.len() - 2]
    };
    assert_eq!(
        got.shape(),
        [batch, &[m, n]].concat(),
        "{what}: output shape"
    );
}

/// The four transpose combinations of a [M, K] @ [K, N] product, stored as each needs.
fn check_all_transposes(m: usize, n: usize, k: usize) {
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let sa = if ta { [k, m] } else { [m, k] };
        let sb = if tb { [n, k] } else { [k, n] };
        check_forward(&sa, &sb, ta, tb);
    }
}

#[test]
fn one_by_one_matches_reference() {
    check_forward(&[1, 1], &[1, 1], false, false);
}

#[test]
fn ragged_17x33x5_matches_reference() {
    check_forward(&[17, 33], &[33, 5], false, false);
}

#[test]
fn ragged_257x129x65_spanning_many_workgroups_matches_reference() {
    check_forward(&[257, 65], &[65, 129], false, false);
}

#[test]
fn square_64_matches_reference() {
    check_forward(&[64, 64], &[64, 64], false, false);
}

#[test]
fn vec4_kernel_with_ragged_tile_edges_matches_reference() {
    // K, N multiples of 4 (the vec4 kernel), M and N not multiples of the tile.
    check_forward(&[257, 68], &[68, 132], false, false);
}

#[test]
fn batched_3x17x33_by_3x33x5_matches_reference() {
    check_forward(&[3, 17, 33], &[3, 33, 5], false, false);
    check_forward(&[2, 3, 20, 36], &[2, 3, 36, 12], false, false);
}

#[test]
fn shared_rank2_rhs_matches_reference() {
    check_forward(&[3, 17, 33], &[33, 5], false, false);
    check_forward(&[2, 36, 20], &[20, 12], false, false);
}

#[test]
fn shared_rank2_lhs_matches_reference() {
    check_forward(&[17, 33], &[3, 33, 5], false, false);
    check_forward(&[36, 20], &[2, 20, 12], false, false);
}

#[test]
fn all_four_transposes_at_ragged_sizes_match_reference() {
    check_all_transposes(19, 23, 13);
}

#[test]
fn all_four_transposes_in_the_vec4_kernel_match_reference() {
    // M % 4 == 0, K % 4 == 0, N % 4 == 0, but none a multiple of the 16x16 tile.
    check_all_transposes(132, 140, 36);
}

/// Thin products (K, N or M of at most 8) whose operands' rows are not whole 256-byte copy
/// rows: an MLP's first layer (K of 3), its output layer (N of 2) and their gradients (M of
/// 3). On CPU adapters the thin kernels read such operands through flat copies of their
/// buffers, stored either way round.
#[test]
fn thin_products_with_unaligned_operands_match_reference() {
    // (6, 64, 2000) transposed: read flat, A^T would cost more fetches than its pack
    // dispatch, so it is packed (the fallback).
    for (m, n, k) in [
        (1000, 64, 3),
        (301, 2, 67),
        (3, 70, 1000),
        (261, 6, 5),
        (6, 64, 2000),
    ] {
        check_all_transposes(m, n, k);
    }
    // Both operands batched: each item's values one after another in the flat copy.
    check_forward(&[3, 17, 5], &[3, 5, 2], false, false);
    check_forward(&[3, 5, 17], &[3, 2, 5], true, true);
}

/// Where the texture kernels run, asserts that op(A) [M, K] @ op(B) [K, N] is one dispatch
/// for each pair of transpose flags given (no pack dispatch for its operands).
fn assert_one_dispatch(what: &str, [m, n, k]: [usize; 3], flags: &[(bool, bool)]) {
    let dev = device();
    if !dev.runs_matmul_texture() {
        eprintln!(
            "skipped: {} does not run the texture kernels",
            dev.describe()
        );
        return;
    }
    for &(ta, tb) in flags {
        let a = tensor(&dev, &if ta { [k, m] } else { [m, k] }, 1);
        let b = tensor(&dev, &if tb { [n, k] } else { [k, n] }, 2);
        let before = dev.stats().dispatches;
        let _ = a.matmul_t(&b, ta, tb);
        let got = dev.stats().dispatches - before;
        assert_eq!(got, 1, "{what}, trans_a {ta}, trans_b {tb}");
    }
}

/// A thin product's unaligned operands ([1000, 3] x [3, 2]) cost copy commands, not pack
/// dispatches, either way round.
#[test]
fn thin_product_with_unaligned_operands_is_one_dispatch() {
    assert_one_dispatch("thin", [1000, 2, 3], &[(false, false), (true, true)]);
}

/// Operands whose rows are a multiple of 4 values but not whole 256-byte copy rows (a U-Net's
/// embedding layers, [16, 40] x [40, 40]) are read from flat copies laid out as the packed
/// (or stored) texture: one dispatch, every way round.
#[test]
fn rows_of_a_multiple_of_4_values_are_one_dispatch() {
    let all = [(false, false), (true, false), (false, true), (true, true)];
    assert_one_dispatch("rows of 40", [16, 40, 40], &all);
}

#[test]
fn batched_transposes_with_shared_operands_match_reference() {
    check_forward(&[3, 13, 19], &[23, 13], true, true);
    check_forward(&[13, 19], &[3, 13, 23], true, false);
    check_forward(&[2, 20, 36], &[12, 20], true, true);
}

/// check_op on op(a) @ op(b) with inputs of these shapes.
fn check_grad(what: &str, sa: &[usize], sb: &[usize], ta: bool, tb: bool) {
    let (sa2, sb2) = (sa.to_vec(), sb.to_vec());
    let k = if ta {
        sa[sa.len() - 2]
    } else {
        sa[sa.len() - 1]
    };
    check_op(
        what,
        &[
            (sa, uniform(sa.iter().product(), -1.0, 1.0, 3)),
            (sb, uniform(sb.iter().product(), -1.0, 1.0, 4)),
        ],
        |t| t[0].matmul_t(&t[1], ta, tb),
        |x| reference(&x[0], &sa2, &x[1], &sb2, ta, tb),
        1e-3 + tol(k),
    );
}

#[test]
fn gradients_for_all_four_transposes() {
    // 5x6x7: the thin kernel; 9x10x11: the scalar kernel; 12x12x16: the vec4 kernel.
    for (m, n, k) in [(5, 6, 7), (9, 10, 11), (12, 12, 16)] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let sa = if ta { [k, m] } else { [m, k] };
            let sb = if tb { [n, k] } else { [k, n] };
            check_grad(
                &format!("{m}x{n}x{k} trans_a {ta} trans_b {tb}"),
                &sa,
                &sb,
                ta,
                tb,
            );
        }
    }
}

#[test]
fn gradients_for_batched_operands() {
    check_grad("batched", &[2, 3, 4, 5], &[2, 3, 5, 6], false, false);
    check_grad("batched transposed", &[3, 5, 4], &[3, 6, 5], true, true);
}

#[test]
fn gradients_for_shared_rank2_rhs_sum_over_the_batch() {
    // b's gradient sums over the batch: a reshape to [batch*M, K] without trans_a, a summing
    // kernel with it.
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let sa = if ta { [3, 5, 4] } else { [3, 4, 5] };
        let sb = if tb { [6, 5] } else { [5, 6] };
        check_grad(
            &format!("shared rhs trans_a {ta} trans_b {tb}"),
            &sa,
            &sb,
            ta,
            tb,
        );
    }
}

#[test]
fn gradients_for_shared_rank2_lhs_sum_over_the_batch() {
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let sa = if ta { [5, 4] } else { [4, 5] };
        let sb = if tb { [3, 6, 5] } else { [3, 5, 6] };
        check_grad(
            &format!("shared lhs trans_a {ta} trans_b {tb}"),
            &sa,
            &sb,
            ta,
            tb,
        );
    }
}

#[test]
#[should_panic(expected = "matmul: [3, 4] x [5, 6]: inner dims 4 != 5")]
fn inner_dim_mismatch_panics_naming_both_shapes() {
    let dev = device();
    Tensor::zeros(&dev, &[3, 4]).matmul(&Tensor::zeros(&dev, &[5, 6]));
}

#[test]
#[should_panic(expected = "matmul: [4, 3]^T x [5, 6]: inner dims 4 != 5")]
fn transposed_inner_dim_mismatch_panics_marking_the_transpose() {
    let dev = device();
    Tensor::zeros(&dev, &[4, 3]).matmul_t(&Tensor::zeros(&dev, &[5, 6]), true, false);
}

#[test]
#[should_panic(expected = "matmul: [4] x [4, 2]: rank-1 operands are not supported")]
fn rank1_operand_panics() {
    let dev = device();
    Tensor::zeros(&dev, &[4]).matmul(&Tensor::zeros(&dev, &[4, 2]));
}

#[test]
#[should_panic(expected = "matmul: [2, 3, 4] x [3, 4, 5]: batch dims [2] and [3] differ")]
fn mismatched_batch_dims_panic() {
    let dev = device();
    Tensor::zeros(&dev, &[2, 3, 4]).matmul(&Tensor::zeros(&dev, &[3, 4, 5]));
}

/// Both register tiles (16x16 and 8x8 outputs per invocation) of `matmul_tiled` on the same
/// adapter, whichever kernel the device would pick by default, for every transpose combination.
#[test]
fn both_register_tiles_match_reference_for_all_transposes() {
    for wide in [false, true] {
        let opts = engine::DeviceOptions {
            matmul_wide_tiles: Some(wide),
            matmul_texture: Some(false),
            ..Default::default()
        };
        let dev = engine::Device::with_options(opts).unwrap();
        let (m, n, k) = (132, 140, 36);
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let sa = if ta { [2, k, m] } else { [2, m, k] };
            let sb = if tb { [n, k] } else { [k, n] };
            check_on(&dev, &sa, &sb, ta, tb, k, &format!("wide {wide}"));
        }
    }
}

/// Few output tiles and a long K: the launcher splits K into chunks computed in parallel
/// (split-K) and sums them. Weight gradients of a layer have this shape.
#[test]
fn split_k_long_contractions_match_reference_for_all_transposes() {
    check_all_transposes(64, 64, 1000); // vec4 kernel, 5 chunks of 200
    check_all_transposes(3, 2, 1001); // thin kernel, 7 chunks of 143
    check_all_transposes(20, 30, 1001); // scalar kernel, 7 chunks of 143
    check_forward(&[1024, 256], &[1024, 2], true, false); // a layer's dW: [1024,256]^T x [1024,2]
}

#[test]
fn split_k_gradients_match_finite_differences() {
    check_grad("split-K", &[4, 512], &[512, 3], false, false);
    check_grad("split-K transposed", &[512, 4], &[3, 512], true, true);
}

/// A thin side (M, N or K at most 8): the MLP's 2-wide input and output layers and their
/// gradients run `matmul_thin` (matmul.wgsl, or matmul_texture.wgsl's on CPU adapters), one
/// invocation per 4 outputs, across several workgroups.
#[test]
fn thin_products_match_reference_for_all_transposes() {
    check_all_transposes(300, 2, 67); // thin N: a 2-wide output layer
    check_all_transposes(2, 130, 70); // thin M
    check_all_transposes(257, 131, 3); // thin K: a 3-wide input layer, 8.4k invocations
    check_all_transposes(8, 8, 8); // every side at the threshold
    check_forward(&[1024, 2], &[1024, 256], true, false); // first layer's dW, split-K
    check_forward(&[3, 70, 5], &[3, 5, 9], false, false); // batched
    check_forward(&[3, 70, 5], &[5, 9], false, false); // shared rhs
}

#[test]
fn thin_gradients_match_finite_differences() {
    check_grad("thin N", &[37, 9], &[9, 2], false, false);
    check_grad("thin K transposed", &[3, 37], &[10, 3], true, true);
    check_grad("thin batched", &[2, 6, 3], &[2, 3, 11], false, false);
}

/// A device that runs every product it can through `matmul_texture`, on any adapter with
/// subgroups of at least 8 (None without: the tests below then say so and pass).
fn texture_device() -> Option<engine::Device> {
    let opts = engine::DeviceOptions {
        matmul_texture: Some(true),
        ..Default::default()
    };
    let dev = engine::Device::with_options(opts).unwrap();
    if !dev.runs_matmul_texture() {
        eprintln!("skipped: {} has no subgroups of 8 or more", dev.describe());
        return None;
    }
    Some(dev)
}

/// op(a) @ op(b) on `dev` against the reference; `label` names the device in the message.
fn check_on(
    dev: &engine::Device,
    sa: &[usize],
    sb: &[usize],
    ta: bool,
    tb: bool,
    k: usize,
    label: &str,
) {
    let a = tensor(dev, sa, 5);
    let b = tensor(dev, sb, 6);
    let f64s = |t: &Tensor| t.to_vec().iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let want = reference(&f64s(&a), sa, &f64s(&b), sb, ta, tb);
    let what = format!("{label}: {sa:?} x {sb:?} (trans_a {ta}, trans_b {tb})");
    assert_close(
        &what,
        &a.matmul_t(&b, ta, tb).to_vec(),
        &want,
        tol(k),
        tol(k),
    );
}

/// `matmul_thin`'s buffer kernel (matmul.wgsl) where the default would run `matmul_texture`'s.
#[test]
fn thin_buffer_kernel_matches_reference_for_all_transposes() {
    let opts = engine::DeviceOptions {
        matmul_texture: Some(false),
        ..Default::default()
    };
    let dev = engine::Device::with_options(opts).unwrap();
    for (m, n, k) in [(300, 2, 67), (2, 130, 70), (257, 131, 3), (8, 8, 8)] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let sa = if ta { [k, m] } else { [m, k] };
            let sb = if tb { [n, k] } else { [k, n] };
            check_on(&dev, &sa, &sb, ta, tb, k, "buffers");
        }
    }
    check_on(
        &dev,
        &[3, 70, 5],
        &[3, 5, 9],
        false,
        false,
        5,
        "buffers, batched",
    );
}

/// `matmul_texture` at shapes that are not multiples of its 128 x 32 workgroup tile nor of 4,
/// across several workgroups, for every transpose combination; and
/// A's batch over a shared B taken as more rows. Twice, so the second run reuses the pooled
/// textures.
#[test]
fn texture_kernel_matches_reference_for_all_transposes() {
    let Some(dev) = texture_device() else { return };
    for _ in 0..2 {
        // Then thin ones: N of 2 (the ragged-N entry point), M of 2,
        // K of 3, and N % 4 != 0 with a long K.
        for (m, n, k) in [
            (261, 100, 1001),
            (37, 36, 37),
            (132, 68, 516),
            (9, 12, 9),
            (300, 2, 67),
            (2, 130, 70),
            (2, 1030, 130),  // at most 8 rows: the thin kernel
            (20, 1030, 130), // few rows and a large product: 32-row tiles
            // Tiles of 64 and 32 rows (M <= 64, M <= 32), thin kernels in small workgroups
            // (few outputs, a long k: the weight gradients of an MLP's first and last layers).
            (40, 64, 1000),
            (64, 64, 1000),
            (3, 64, 1000),
            (64, 2, 1000),
            (5, 300, 70),
            (257, 131, 3),
            (31, 30, 1001),
            // Rows of 64 or 128 values: packed by a plain copy when not transposed, and read
            // in their stored layout when transposed (A^T when M % 64 == 0, B^T when
            // K % 64 == 0), with K past the last full 4, N ragged, thin sides.
            (70, 128, 64),
            (128, 36, 37),
            (64, 20, 128),
            (37, 30, 64),
            (1024, 2, 256),
            (1024, 256, 2),
            (64, 6, 130),
        ] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let sa = if ta { [k, m] } else { [m, k] };
                let sb = if tb { [n, k] } else { [k, n] };
                check_on(&dev, &sa, &sb, ta, tb, k, "texture");
            }
        }
        check_on(&dev, &[3, 45, 63], &[63, 100], false, false, 63, "texture");
        check_on(&dev, &[3, 45, 63], &[100, 63], false, true, 63, "texture");
    }
}

/// Both operands batched through `matmul_texture` (one batch item per grid z, the items packed
/// one above the other): ragged tiles, the stored-layout (natural) operands, thin sides, for
/// every transpose combination, and twice so the pooled textures are reused at other heights.
#[test]
fn texture_kernel_batched_matches_reference_for_all_transposes() {
    let Some(dev) = texture_device() else { return };
    for _ in 0..2 {
        for (bt, m, n, k) in [
            (3, 45, 100, 63),
            (5, 37, 36, 37),
            (4, 64, 20, 128), // A^T in its stored layout (M % 64 == 0)
            (2, 70, 128, 64), // B^T in its stored layout (K % 64 == 0)
            (3, 2, 130, 70),  // thin M
            (3, 300, 2, 67),  // thin N
            (2, 257, 131, 3), // thin K
        ] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let sa = if ta { [bt, k, m] } else { [bt, m, k] };
                let sb = if tb { [bt, n, k] } else { [bt, k, n] };
                check_on(&dev, &sa, &sb, ta, tb, k, "texture, batched");
            }
        }
    }
}

/// The backward's products (all four transpose flags) through `matmul_texture`.
#[test]
fn texture_kernel_gradients_match_finite_differences() {
    let Some(dev) = texture_device() else { return };
    for (ta, tb) in [(false, false), (true, true)] {
        let sa = if ta { [16, 12] } else { [12, 16] };
        let sb = if tb { [36, 16] } else { [16, 36] };
        let (sa2, sb2) = (sa.to_vec(), sb.to_vec());
        check_op_on(
            &dev,
            &format!("texture (trans_a {ta}, trans_b {tb})"),
            &[
                (&sa, uniform(sa.iter().product(), -1.0, 1.0, 7)),
                (&sb, uniform(sb.iter().product(), -1.0, 1.0, 8)),
            ],
            |t| t[0].matmul_t(&t[1], ta, tb),
            |x| reference(&x[0], &sa2, &x[1], &sb2, ta, tb),
            1e-3 + tol(16),
        );
    }
}
