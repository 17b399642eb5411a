//! Textures that kernels read their inputs through on CPU adapters (see
//! `ops::matmul_texture` and `flat`), pooled by (format, width, height) like tensor
//! buffers. A texture can go back to the pool as soon as the dispatches reading it are
//! recorded: work on the queue runs in order, so a later pack or copy into it waits for them.
//! Each texture keeps the view kernels bind it by: creating a view per dispatch cost ~55 us on
//! lavapipe, as much as the dispatch itself (`--example dispatch_cost`).
//!
//! Kernels read them as read-only storage textures (`texture_storage_2d<FORMAT, read>`; WebGPU
//! guarantees that access for r32float, rg32float and rgba32float), not as sampled textures
//! (`texture_2d<f32>`): on llvmpipe a sampled `textureLoad` is a call that works out each
//! lane's mip level and size before it gathers, where a storage-texture load only gathers.
//! In the per-read table of `cargo run --release -p engine --example access_probe` (a loop of
//! 256 reads of a vec4 per invocation, lavapipe on 2 cores), beyond the loop's own 0.36 ns per
//! lane and read a storage-buffer load added 1.30-1.36 ns, a sampled fetch 0.89-0.94 and a
//! storage-texture load 0.35-0.36. The conv weight gradient, which reads 8 texels per 384
//! FMAs, ran ~30% faster for the change (BENCHMARKS.md).

use crate::device::Device;

/// A pooled texture and the whole-texture view that kernels bind.
pub(crate) struct Pooled {
    pub tex: wgpu::Texture,
    pub view: wgpu::TextureView,
}

/// A pooled texture of this format and size (usable as `usage`), or a new one.
pub(crate) fn take(
    dev: &Device,
    format: wgpu::TextureFormat,
    usage: wgpu::TextureUsages,
    width: u32,
    height: u32,
) -> Pooled {
    let key = (format, usage, width, height);
    if let Some(t) = dev.0.textures.borrow_mut().get_mut(&key).and_then(Vec::pop) {
        return t;
    }
    let tex = dev.0.device.create_texture(&wgpu::TextureDescriptor {
        label: Some("kernel input (texture)"),
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage,
        view_formats: &[],
    });
    let view = tex.create_view(&Default::default());
    Pooled { tex, view }
}

pub(crate) fn give_back(dev: &Device, t: Pooled) {
    let key = (t.tex.format(), t.tex.usage(), t.tex.width(), t.tex.height());
    dev.0.textures.borrow_mut().entry(key).or_default().push(t);
}

/// Values per input from which reading through flat texture copies pays on CPU adapters
/// (`DeviceOptions::texture_reads` left to `None`). `cargo run --release -p engine --example
/// dispatch_cost` on lavapipe (2 cores): an `add_scalar` costs ~75 us + 5.8 ns per value
/// reading its buffer and ~120 us + 2.6 ns per value reading a texture copy (the copy
/// command's fixed cost), so the copy pays from ~14K values per input.
pub(crate) const PAYS_FROM_VALUES: usize = 16384;

/// Texels per row of a flat texture.
pub(crate) const FLAT_WIDTH: usize = 4096;

/// Values per texel of a flat texture: 1 (r32float), 2 (rg32float) or 4 (rgba32float).
fn per_texel(format: wgpu::TextureFormat) -> usize {
    match format {
        wgpu::TextureFormat::R32Float => 1,
        wgpu::TextureFormat::Rg32Float => 2,
        wgpu::TextureFormat::Rgba32Float => 4,
        other => panic!("flat textures are r32float, rg32float or rgba32float, not {other:?}"),
    }
}

/// Whether a tensor of `numel` values fits a flat texture of this format on this device
/// (rgba32float needs a multiple of 4 values).
pub(crate) fn flat_fits(dev: &Device, numel: usize, format: wgpu::TextureFormat) -> bool {
    let c = per_texel(format);
    numel > 0
        && numel.is_multiple_of(c)
        && (numel / c).div_ceil(FLAT_WIDTH) <= dev.limits().max_texture_dimension_2d as usize
}

/// The tensor's values copied (a plain buffer-to-texture copy, no kernel) into a texture
/// FLAT_WIDTH texels wide, row-major: texel i holds values c*i .. c*i + c-1 (c = 1 for
/// r32float, 2 for rg32float, 4 for rgba32float) at (i % 4096, i / 4096). The caller checks
/// `flat_fits` and gives the texture back when its dispatches are recorded.
pub(crate) fn flat(t: &crate::Tensor, format: wgpu::TextureFormat) -> Pooled {
    let dev = t.device();
    let c = per_texel(format);
    let texels = t.numel() / c;
    let (rows, rem) = (texels / FLAT_WIDTH, texels % FLAT_WIDTH);
    let usage = wgpu::TextureUsages::COPY_DST | wgpu::TextureUsages::STORAGE_BINDING;
    let height = texels.div_ceil(FLAT_WIDTH) as u32;
    let tex = take(dev, format, usage, FLAT_WIDTH as u32, height);
    let row_bytes = FLAT_WIDTH * 4 * c;
    // Whole rows, then the last partial row.
    copy_rows(t, &tex.tex, row_bytes, 0, FLAT_WIDTH, rows);
    copy_rows(t, &tex.tex, row_bytes, rows, rem, 1);
    tex
}

/// Copies rows `y0 .. y0 + height` of `src`'s buffer, seen as rows of `row_bytes` (a multiple
/// of 256), into the same rows of `tex`, `width` texels of each: a copy command, no kernel.
/// Nothing when the region is empty.
pub(crate) fn copy_rows(
    src: &crate::Tensor,
    tex: &wgpu::Texture,
    row_bytes: usize,
    y0: usize,
    width: usize,
    height: usize,
) {
    if width == 0 || height == 0 {
        return;
    }
    src.device().0.encode(|enc| {
        enc.copy_buffer_to_texture(
            wgpu::TexelCopyBufferInfo {
                buffer: src.buffer(),
                layout: wgpu::TexelCopyBufferLayout {
                    offset: (y0 * row_bytes) as u64,
                    bytes_per_row: Some(row_bytes as u32),
                    rows_per_image: None,
                },
            },
            wgpu::TexelCopyTextureInfo {
                texture: tex,
                mip_level: 0,
                origin: wgpu::Origin3d {
                    x: 0,
                    y: y0 as u32,
                    z: 0,
                },
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::Extent3d {
                width: width as u32,
                height: height as u32,
                depth_or_array_layers: 1,
            },
        )
    });
}

/// Whether a kernel reading `ts` should read them through flat texture copies: this device's
/// elementwise kernels read through textures (`DeviceOptions::texture_reads`), every tensor
/// fits one, and between them they hold at least `texture_reads_from` values per tensor.
fn pays(ts: &[(&crate::Tensor, wgpu::TextureFormat)]) -> bool {
    let Some(dev) = ts.first().map(|(t, _)| t.device()) else {
        return false;
    };
    let Some(from) = dev.0.texture_reads_from else {
        return false;
    };
    let values: usize = ts.iter().map(|(t, _)| t.numel()).sum();
    ts.iter().all(|(t, f)| flat_fits(dev, t.numel(), *f)) && values >= from * ts.len()
}

/// A tensor's values in a flat texture (see `flat`) for the kernels of one dispatch to read,
/// with the view they bind. Give it back once the dispatch is recorded.
pub(crate) struct Flat(Pooled);

impl Flat {
    /// `t` copied into a flat texture of `format`, when this device's elementwise kernels
    /// read through textures (`DeviceOptions::texture_reads`), `t` is large enough for the
    /// copy to pay and fits one; else `None`, and the caller reads the buffer.
    pub(crate) fn of(t: &crate::Tensor, format: wgpu::TextureFormat) -> Option<Flat> {
        Flat::all(&[(t, format)]).map(|mut v| v.remove(0))
    }

    /// `t` copied into a flat texture of `format` whatever the device (for kernels that
    /// always read through textures); the caller checks `flat_fits`.
    pub(crate) fn new(t: &crate::Tensor, format: wgpu::TextureFormat) -> Flat {
        Flat(flat(t, format))
    }

    /// Every tensor copied as `of` does, or `None` unless `pays` for them.
    pub(crate) fn all(ts: &[(&crate::Tensor, wgpu::TextureFormat)]) -> Option<Vec<Flat>> {
        pays(ts).then(|| ts.iter().map(|(t, f)| Flat::new(t, *f)).collect())
    }

    pub(crate) fn format(&self) -> wgpu::TextureFormat {
        self.0.tex.format()
    }

    pub(crate) fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::TextureView(&self.0.view)
    }

    pub(crate) fn give_back(self, dev: &Device) {
        give_back(dev, self.0);
    }
}

/// Records `kernel` with `textures` bound at 0.. and `buffers` after them (then the uniform
/// `params`, as `DeviceInner::dispatch`), and gives the textures back.
pub(crate) fn dispatch_reading(
    dev: &Device,
    kernel: &crate::kernels::Kernel,
    textures: Vec<Flat>,
    buffers: &[&crate::Tensor],
    params: &[u8],
    grid: [u32; 3],
) {
    let mut bindings: Vec<wgpu::BindingResource> = textures.iter().map(Flat::binding).collect();
    bindings.extend(buffers.iter().map(|t| t.buffer().as_entire_binding()));
    dev.0.dispatch_bound(kernel, &bindings, params, grid);
    drop(bindings);
    textures.into_iter().for_each(|t| t.give_back(dev));
}
