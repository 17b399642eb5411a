//! Random tensors from a counter-based generator, Philox 4x32-10 (Salmon et al., SC 2011).
//! Kernels: shaders/random.wgsl.
//!
//! A stream is fixed by a 64-bit seed (the Philox key) and a 64-bit offset counted in values:
//! the value at position `offset + j` is word `j % 4` of Philox(counter = (offset + j) / 4,
//! key = seed). Nothing is stored on the GPU between calls, so any slice of any stream can be
//! drawn in parallel, and the same (seed, offset) always gives the same bits.
//!
//! The device holds a generator state (seed, offset): `Tensor::rand` and `Tensor::randn` draw
//! from it and advance the offset by the values they used, rounded up to a multiple of 4 (one
//! Philox block), so successive calls read disjoint parts of the stream. `Device::manual_seed`
//! rewinds it; `Device::rng_state` / `set_rng_state` save and restore it (checkpoints).

use crate::device::Device;
use crate::kernels::{Kernel, RANDOM};
use crate::shape::{self, grid_1d};
use crate::tensor::Tensor;

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// Philox 4x32-10 on the CPU: the reference the GPU kernel is tested against.
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (ctr, key);
    for r in 0..10 {
        if r > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let p0 = M0 as u64 * c[0] as u64;
        let p1 = M1 as u64 * c[2] as u64;
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The `n` raw words of the stream (seed, offset), on the CPU; `offset` a multiple of 4.
pub fn philox_stream_cpu(n: usize, seed: u64, offset: u64) -> Vec<u32> {
    check_offset("philox_stream_cpu", offset);
    let key = [seed as u32, (seed >> 32) as u32];
    let mut out = Vec::with_capacity(n + 3);
    for i in 0..n.div_ceil(4) as u64 {
        let c = offset / 4 + i;
        out.extend(philox4x32_10([c as u32, (c >> 32) as u32, 0, 0], key));
    }
    out.truncate(n);
    out
}

/// The uniform the GPU makes from a raw word: the top 24 bits / 2^24, in [0, 1), exact in f32.
pub fn uniform_from_bits(x: u32) -> f32 {
    (x >> 8) as f32 * (1.0 / 16_777_216.0)
}

fn check_offset(op: &str, offset: u64) {
    assert!(
        offset.is_multiple_of(4),
        "{op}: offset {offset} is not a multiple of 4 (one Philox block is 4 values)"
    );
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    key_lo: u32,
    key_hi: u32,
    ctr_lo: u32,
    ctr_hi: u32,
    _pad: [u32; 3],
}

fn params(op: &str, n: usize, seed: u64, offset: u64) -> Params {
    check_offset(op, offset);
    let n32 = u32::try_from(n).unwrap_or_else(|_| panic!("{op}: {n} values do not fit in 32 bits"));
    let ctr = offset / 4;
    Params {
        n: n32,
        key_lo: seed as u32,
        key_hi: (seed >> 32) as u32,
        ctr_lo: ctr as u32,
        ctr_hi: (ctr >> 32) as u32,
        _pad: [0; 3],
    }
}

/// Which transform of the raw words (`MODE` in the shader).
#[derive(Clone, Copy)]
enum Dist {
    Uniform = 1,
    Normal = 2,
}

fn launch(op: &str, dev: &Device, shape: &[usize], seed: u64, offset: u64, dist: Dist) -> Tensor {
    let out = Tensor::uninit(dev, shape, op);
    let n = out.numel();
    let p = params(op, n, seed, offset);
    let entry = if n.is_multiple_of(4) {
        "philox4"
    } else {
        "philox"
    };
    let kernel = Kernel::new(RANDOM, entry).with("MODE", dist as u32 as f64);
    dev.0.dispatch(
        &kernel,
        &[out.buffer()],
        bytemuck::bytes_of(&p),
        grid_1d(n.div_ceil(4), 256),
    );
    out
}

/// Takes `n` values from the device's stream: returns (seed, offset) to use and advances it.
fn draw(dev: &Device, n: usize) -> (u64, u64) {
    let (seed, offset) = dev.rng_state();
    let start = offset.next_multiple_of(4);
    dev.set_rng_state((seed, start + (n as u64).next_multiple_of(4)));
    (seed, start)
}

/// The `n` raw words of the stream (seed, offset) computed on the GPU and read back: the path
/// the tests compare bit for bit with `philox_stream_cpu`.
pub fn philox_u32(dev: &Device, n: usize, seed: u64, offset: u64) -> Vec<u32> {
    let p = params("philox_u32", n, seed, offset);
    let out = Tensor::uninit(dev, &[n], "philox_u32"); // out is [n] u32 words
    dev.0.dispatch(
        &Kernel::new(RANDOM, "philox_bits"),
        &[out.buffer()],
        bytemuck::bytes_of(&p),
        grid_1d(n.div_ceil(4), 256),
    );
    let bytes = dev
        .0
        .read(out.buffer(), (n * 4) as u64)
        .unwrap_or_else(|e| panic!("philox_u32: reading back: {e}"));
    bytemuck::cast_slice(&bytes).to_vec()
}

impl Tensor {
    /// Uniform values in [0, 1) from the device's generator (advances it).
    pub fn rand(dev: &Device, shape: &[usize]) -> Tensor {
        let (seed, offset) = draw(dev, shape::numel(shape));
        launch("rand", dev, shape, seed, offset, Dist::Uniform)
    }

    /// Standard normal values from the device's generator (advances it).
    pub fn randn(dev: &Device, shape: &[usize]) -> Tensor {
        let (seed, offset) = draw(dev, shape::numel(shape));
        launch("randn", dev, shape, seed, offset, Dist::Normal)
    }

    /// Uniform values in [0, 1) from the explicit stream (seed, offset); offset a multiple of 4.
    /// Leaves the device's generator alone.
    pub fn rand_seeded(dev: &Device, shape: &[usize], seed: u64, offset: u64) -> Tensor {
        launch("rand_seeded", dev, shape, seed, offset, Dist::Uniform)
    }

    /// Standard normal values from the explicit stream (seed, offset); offset a multiple of 4.
    pub fn randn_seeded(dev: &Device, shape: &[usize], seed: u64, offset: u64) -> Tensor {
        launch("randn_seeded", dev, shape, seed, offset, Dist::Normal)
    }

    /// `Tensor::rand` with this tensor's shape and device.
    pub fn rand_like(&self) -> Tensor {
        Tensor::rand(self.device(), self.shape())
    }

    /// `Tensor::randn` with this tensor's shape and device.
    pub fn randn_like(&self) -> Tensor {
        Tensor::randn(self.device(), self.shape())
    }
}
