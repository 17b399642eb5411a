//! conv2d against an f64 CPU reference (forward, grad-input, grad-weight, grad-bias) on awkward
//! shapes, every gradient by central finite differences (check_op), and the panic messages.
//!
//! Legend: x is [N, Cin, H, W], weight is [Cout, Cin, K, K], bias is [Cout],
//! y is [N, Cout, OH, OW] with OH = (H + 2P - K) / S + 1. The GPU tiles are 4 channels x 4
//! pixels per invocation and 32 x 32 per workgroup, so sizes like 5, 17, 33, 70 leave ragged
//! edges and 70 channels x 380 pixels need several workgroups in every grid dimension.
mod common;
use common::*;
use engine::{Device, DeviceOptions, Tensor};

/// One convolution's sizes.
#[derive(Clone, Copy, Debug)]
struct Conv {
    n: usize,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    k: usize,
    stride: usize,
    pad: usize,
}

#[allow(clippy::too_many_arguments)]
const fn conv(
    n: usize,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    k: usize,
    stride: usize,
    pad: usize,
) -> Conv {
    Conv {
        n,
        cin,
        cout,
        h,
        w,
        k,
        stride,
        pad,
    }
}

impl Conv {
    fn oh(&self) -> usize {
        (self.h + 2 * self.pad - self.k) / self.stride + 1
    }
    fn ow(&self) -> usize {
        (self.w + 2 * self.pad - self.k) / self.stride + 1
    }
    fn x_shape(&self) -> [usize; 4] {
        [self.n, self.cin, self.h, self.w]
    }
    fn w_shape(&self) -> [usize; 4] {
        [self.cout, self.cin, self.k, self.k]
    }
    fn y_shape(&self) -> [usize; 4] {
        [self.n, self.cout, self.oh(), self.ow()]
    }
    /// Calls f(y index, x index, weight index) for every product of the convolution that reads
    /// a pixel of x (not the padding): the one loop the forward and backward references share.
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize, usize)) {
        let (oh_, ow_) = (self.oh(), self.ow());
        for n in 0..self.n {
            for co in 0..self.cout {
                for oy in 0..oh_ {
                    for ox in 0..ow_ {
                        let yi = ((n * self.cout + co) * oh_ + oy) * ow_ + ox;
                        for ci in 0..self.cin {
                            for kh in 0..self.k {
                                for kw in 0..self.k {
                                    let ih = (oy * self.stride + kh) as isize - self.pad as isize;
                                    let iw = (ox * self.stride + kw) as isize - self.pad as isize;
                                    if ih < 0
                                        || iw < 0
                                        || ih >= self.h as isize
                                        || iw >= self.w as isize
                                    {
                                        continue;
                                    }
                                    let xi = ((n * self.cin + ci) * self.h + ih as usize) * self.w
                                        + iw as usize;
                                    let wi = ((co * self.cin + ci) * self.k + kh) * self.k + kw;
                                    f(yi, xi, wi);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// y = conv(x, w) + b in f64.
    fn forward(&self, x: &[f64], w: &[f64], b: Option<&[f64]>) -> Vec<f64> {
        let mut y = vec![0.0; self.y_shape().iter().product()];
        self.for_each_tap(|yi, xi, wi| y[yi] += x[xi] * w[wi]);
        if let Some(b) = b {
            let q = self.oh() * self.ow();
            for (i, v) in y.iter_mut().enumerate() {
                *v += b[(i / q) % self.cout];
            }
        }
        y
    }

    /// dx, dW, db for output gradient dy, in f64 (scattered: each product adds to both).
    fn backward(&self, x: &[f64], w: &[f64], dy: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut dx = vec![0.0; x.len()];
        let mut dw = vec![0.0; w.len()];
        self.for_each_tap(|yi, xi, wi| {
            dx[xi] += dy[yi] * w[wi];
            dw[wi] += dy[yi] * x[xi];
        });
        let q = self.oh() * self.ow();
        let mut db = vec![0.0; self.cout];
        for (i, g) in dy.iter().enumerate() {
            db[(i / q) % self.cout] += g;
        }
        (dx, dw, db)
    }
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_vec().iter().map(|&v| v as f64).collect()
}

/// Each output sums up to Cin*K*K products of values in [-1, 1).
fn tol(c: &Conv) -> f64 {
    1e-5 + 2e-6 * (c.cin * c.k * c.k) as f64
}

/// GPU forward (with or without bias) against the reference, and the output shape.
fn check_forward(c: Conv, bias: bool) {
    check_forward_on(&device(), c, bias);
}

fn check_forward_on(dev: &Device, c: Conv, bias: bool) {
    let dev = dev.clone();
    let x = tensor(&dev, &c.x_shape(), 1);
    let w = tensor(&dev, &c.w_shape(), 2);
    let b = tensor(&dev, &[c.cout], 3);
    let y = x.conv2d(&w, bias.then_some(&b), c.stride, c.pad);
    assert_eq!(y.shape(), c.y_shape(), "{c:?}: output shape");
    let bv = f64s(&b);
    let want = c.forward(&f64s(&x), &f64s(&w), bias.then_some(&bv[..]));
    assert_close(
        &format!("{c:?} bias {bias} forward"),
        &y.to_vec(),
        &want,
        tol(&c),
        tol(&c),
    );
}

/// GPU backward (dx, dW, db from a random dy) against the reference backward.
fn check_backward(c: Conv) {
    check_backward_on(&device(), c);
}

fn check_backward_on(dev: &Device, c: Conv) {
    let dev = dev.clone();
    let x = tensor(&dev, &c.x_shape(), 4).set_requires_grad(true);
    let w = tensor(&dev, &c.w_shape(), 5).set_requires_grad(true);
    let b = tensor(&dev, &[c.cout], 6).set_requires_grad(true);
    let dy = tensor(&dev, &c.y_shape(), 7);
    x.conv2d(&w, Some(&b), c.stride, c.pad)
        .backward_with(dy.clone());
    let (dx, dw, db) = c.backward(&f64s(&x), &f64s(&w), &f64s(&dy));
    // dx sums Cout*K*K products, dW sums N*OH*OW, db N*OH*OW values.
    let t_dx = 1e-5 + 2e-6 * (c.cout * c.k * c.k) as f64;
    let t_dw = 1e-5 + 2e-6 * (c.n * c.oh() * c.ow()) as f64;
    assert_close(
        &format!("{c:?} grad-input"),
        &x.grad().unwrap().to_vec(),
        &dx,
        t_dx,
        t_dx,
    );
    assert_close(
        &format!("{c:?} grad-weight"),
        &w.grad().unwrap().to_vec(),
        &dw,
        t_dw,
        t_dw,
    );
    assert_close(
        &format!("{c:?} grad-bias"),
        &b.grad().unwrap().to_vec(),
        &db,
        t_dw,
        t_dw,
    );
}

/// Finite differences of the reference against the GPU gradients of x, weight and bias.
fn check_grads(c: Conv, bias: bool) {
    let (xs, ws) = (c.x_shape(), c.w_shape());
    let mut inputs = vec![
        (
            &xs[..],
            uniform(c.x_shape().iter().product(), -1.0, 1.0, 11),
        ),
        (
            &ws[..],
            uniform(c.w_shape().iter().product(), -1.0, 1.0, 12),
        ),
    ];
    let bshape = [c.cout];
    if bias {
        inputs.push((&bshape[..], uniform(c.cout, -1.0, 1.0, 13)));
    }
    check_op(
        &format!("{c:?} bias {bias}"),
        &inputs,
        |t| t[0].conv2d(&t[1], t.get(2), c.stride, c.pad),
        |v| c.forward(&v[0], &v[1], v.get(2).map(|b| &b[..])),
        2e-3,
    );
}

#[test]
fn conv_1x1_matches_reference_at_stride_1_and_2() {
    check_forward(conv(2, 3, 5, 7, 9, 1, 1, 0), true);
    check_forward(conv(2, 17, 3, 7, 9, 1, 2, 0), false);
}

#[test]
fn conv_3x3_padding_1_matches_reference_with_and_without_bias() {
    check_forward(conv(3, 5, 17, 11, 13, 3, 1, 1), true);
    check_forward(conv(3, 5, 17, 11, 13, 3, 1, 1), false);
    check_forward(conv(1, 1, 1, 4, 3, 3, 1, 1), true);
}

#[test]
fn conv_3x3_stride_2_matches_reference_for_paddings_0_1_2() {
    for pad in 0..3 {
        check_forward(conv(2, 17, 33, 9, 10, 3, 2, pad), true);
    }
}

#[test]
fn conv_5x5_and_2x2_match_reference() {
    check_forward(conv(2, 3, 5, 12, 9, 5, 1, 2), true);
    check_forward(conv(2, 3, 5, 12, 9, 5, 2, 0), false);
    check_forward(conv(2, 5, 3, 8, 7, 2, 2, 0), true);
    check_forward(conv(2, 5, 3, 8, 7, 2, 1, 1), true);
}

#[test]
fn padding_wider_than_the_kernel_matches_reference() {
    // 1x1 with padding 1: the border of y is the bias alone; grad-input runs with padding -1.
    check_forward(conv(2, 3, 5, 4, 6, 1, 1, 1), true);
    check_backward(conv(2, 3, 5, 4, 6, 1, 1, 1));
}

#[test]
fn conv_spanning_several_workgroups_in_every_grid_dimension_matches_reference() {
    // 20x19 = 380 pixels (12 workgroups of 32), 70 channels (3 of 32), batch 3; grad-weight has
    // R = 5*9 = 45 (2 of 32) and splits each image's pixels into chunks.
    let c = conv(3, 5, 70, 20, 19, 3, 1, 1);
    check_forward(c, true);
    check_backward(c);
}

#[test]
fn weights_split_over_several_uniform_buffers_match_reference() {
    // R = 64*9 = 576 rows: 16 channels fill a 64 KiB uniform buffer, so 70 channels take 5
    // chunks (the last one partial); grad-input packs 70*9 rows, 8 channels per chunk.
    check_forward(conv(2, 64, 70, 6, 5, 3, 1, 1), true);
    check_backward(conv(2, 64, 70, 6, 5, 3, 1, 1));
}

#[test]
fn weights_too_large_for_a_uniform_buffer_match_reference() {
    // R = 460*9 = 4140 rows: not even 4 channels fit 64 KiB, so the forward (and, with 460
    // output channels, grad-input) run the storage-buffer kernel.
    for c in [
        conv(1, 460, 5, 4, 3, 3, 1, 1),
        conv(1, 3, 460, 4, 3, 3, 2, 1),
    ] {
        check_forward(c, true);
        check_backward(c);
    }
}

#[test]
fn weight_gradient_by_kernel_rows_matches_reference() {
    // Stride 1, 3x3, OW % 4 == 0: conv2d_grad_weight_rows. OW = 12 (a segment of 8 and a tail
    // of 4), 20 (8, 8, 4) and 8; 11*3 = 33 kernel rows (2 workgroups); 37 channels in groups of
    // 16, 16, 5, and 9 in one (8 + 1: each lane fetches two channels' dy); paddings 1, 2, 0. W = 12 reads x 4 values a texel (the window starting 3
    // values into its first texel), W = 18 and 10 one value a texel.
    check_backward(conv(2, 11, 37, 9, 12, 3, 1, 1));
    check_backward(conv(2, 3, 5, 10, 18, 3, 1, 2));
    check_backward(conv(1, 4, 9, 7, 10, 3, 1, 0));
    // 4 values a texel with the window starting 1 value into its texel (padding 3, OW = 12),
    // rows of 4, shorter than the window (one 4-pixel tail per row), and rows of 16, whose
    // last segment's window reaches one value past the row.
    check_backward(conv(2, 3, 6, 5, 8, 3, 1, 3));
    check_backward(conv(3, 5, 9, 4, 4, 3, 1, 1));
    check_backward(conv(2, 3, 5, 4, 16, 3, 1, 1));
    // On CPU adapters each invocation sums N / 16 images (rounded up): 35 images are 12 groups
    // of 3, the last of 2.
    check_backward(conv(35, 3, 5, 4, 8, 3, 1, 1));
}

#[test]
fn stride_1_windows_four_values_a_texel_match_reference() {
    // Rows of a multiple of 4 values are read 4 values a texel (conv_window.wgsl): every offset
    // of a window in its first texel (paddings 0, 3, 2, 1 forward; the grad-input's padding
    // KH-1-P runs from 4 down to -1), 3- and 5-wide kernels, a row of 4 shorter than a window.
    for pad in 0..4 {
        check_forward(conv(2, 3, 6, 5, 12, 3, 1, pad), true);
        check_backward(conv(2, 3, 6, 5, 12, 3, 1, pad));
    }
    check_forward(conv(2, 4, 5, 6, 8, 5, 1, 1), true);
    check_backward(conv(2, 4, 5, 6, 8, 5, 1, 1));
    check_forward(conv(1, 2, 3, 3, 4, 3, 1, 1), true);
    check_backward(conv(1, 2, 3, 3, 4, 3, 1, 1));
}

#[test]
fn small_register_tiles_match_reference() {
    // `matmul_wide_tiles: false` (the GPU default) caps the gathers at 8 channels per
    // invocation; this machine's default (a CPU adapter) uses 32.
    let opts = DeviceOptions {
        matmul_wide_tiles: Some(false),
        ..DeviceOptions::default()
    };
    let dev = Device::with_options(opts).expect("a wgpu adapter");
    for c in [
        conv(2, 5, 70, 9, 10, 3, 1, 1),
        conv(2, 17, 33, 9, 10, 3, 2, 1),
    ] {
        check_forward_on(&dev, c, true);
        check_backward_on(&dev, c);
    }
}

#[test]
fn kernels_without_subgroups_match_reference() {
    // As on an adapter without subgroups: stride-1 convs take conv2d_gather_uniform (not
    // conv2d_gather_rows) and the weight gradient skips conv2d_grad_weight_rows.
    let opts = DeviceOptions {
        subgroups: false,
        ..DeviceOptions::default()
    };
    let dev = Device::with_options(opts).expect("a wgpu adapter");
    for c in [
        conv(2, 5, 37, 9, 12, 3, 1, 1),
        conv(2, 3, 9, 7, 10, 5, 1, 2),
        conv(2, 6, 11, 9, 10, 3, 2, 1),
    ] {
        check_forward_on(&dev, c, true);
        check_backward_on(&dev, c);
    }
}

#[test]
fn unet_downsampling_shape_matches_reference() {
    // N = 2, 32 -> 64 channels, 16x16, 3x3, stride 2, padding 1: y is [2, 64, 8, 8].
    let c = conv(2, 32, 64, 16, 16, 3, 2, 1);
    check_forward(c, true);
    check_backward(c);
}

#[test]
fn backward_matches_reference_at_larger_shapes() {
    check_backward(conv(3, 17, 33, 13, 11, 3, 1, 1));
    check_backward(conv(2, 17, 5, 13, 11, 3, 2, 1));
    check_backward(conv(2, 3, 5, 12, 9, 5, 2, 2));
    check_backward(conv(1, 33, 3, 9, 9, 1, 1, 0));
}

#[test]
fn gradients_3x3_padding_1_match_finite_differences() {
    check_grads(conv(2, 3, 2, 5, 4, 3, 1, 1), true);
    check_grads(conv(1, 2, 3, 4, 4, 3, 1, 1), false);
}

#[test]
fn gradients_strided_match_finite_differences() {
    check_grads(conv(2, 2, 3, 6, 5, 3, 2, 1), true);
    check_grads(conv(2, 3, 2, 5, 7, 3, 2, 0), true);
    check_grads(conv(1, 2, 2, 6, 6, 2, 2, 0), true);
}

#[test]
fn gradients_1x1_and_5x5_match_finite_differences() {
    check_grads(conv(2, 3, 2, 3, 4, 1, 1, 0), true);
    check_grads(conv(1, 2, 2, 4, 5, 5, 1, 2), true);
    check_grads(conv(1, 2, 3, 3, 3, 1, 1, 1), true);
}

fn run(x: &[usize], w: &[usize], bias: Option<&[usize]>, stride: usize, pad: usize) {
    let dev = device();
    let xt = Tensor::zeros(&dev, x);
    let wt = Tensor::zeros(&dev, w);
    let bt = bias.map(|b| Tensor::zeros(&dev, b));
    xt.conv2d(&wt, bt.as_ref(), stride, pad);
}

#[test]
#[should_panic(
    expected = "conv2d: x [2, 3, 8, 8] has 3 channels but weight [4, 5, 3, 3] expects 5"
)]
fn channel_mismatch_panics_naming_both_shapes() {
    run(&[2, 3, 8, 8], &[4, 5, 3, 3], None, 1, 1);
}

#[test]
#[should_panic(expected = "conv2d: x must be [N, Cin, H, W], got shape [3, 8, 8] (rank 3)")]
fn rank_3_input_panics() {
    run(&[3, 8, 8], &[4, 3, 3, 3], None, 1, 1);
}

#[test]
#[should_panic(expected = "conv2d: weight must be [Cout, Cin, KH, KW], got shape [4, 3, 3]")]
fn rank_3_weight_panics() {
    run(&[2, 3, 8, 8], &[4, 3, 3], None, 1, 1);
}

#[test]
#[should_panic(
    expected = "conv2d: kernel 5x5 (weight [4, 3, 5, 5]) is larger than the padded input 4x6"
)]
fn kernel_larger_than_padded_input_panics() {
    run(&[1, 3, 2, 4], &[4, 3, 5, 5], None, 1, 1);
}

#[test]
#[should_panic(expected = "conv2d: stride must be at least 1, got 0")]
fn stride_0_panics() {
    run(&[1, 3, 8, 8], &[4, 3, 3, 3], None, 0, 1);
}

#[test]
#[should_panic(expected = "conv2d: bias [3] must be [Cout] = [4]")]
fn wrong_bias_shape_panics() {
    run(&[1, 3, 8, 8], &[4, 3, 3, 3], Some(&[3]), 1, 1);
}
