//! `DeviceOptions`: how a `Device` picks its adapter and which kernels it runs (re-exported
//! from `device`), and the adapter choice itself.

use crate::error::{Error, Result};

/// How to pick and drive the adapter. Everything is explicit: no hidden environment switches
/// (wgpu's own `WGPU_BACKEND` is still honoured when `backends` is `None`).
#[derive(Clone, Debug)]
pub struct DeviceOptions {
    /// Backends to search; `None` means wgpu's default (all native backends, or `WGPU_BACKEND`).
    pub backends: Option<wgpu::Backends>,
    /// Only adapters whose name contains this string (case-insensitive).
    pub adapter_name: Option<String>,
    /// Submit the pending batch after this many dispatches.
    pub max_dispatches_per_submit: usize,
    /// Time every dispatch on its own (see `crate::profile`): for finding where time goes,
    /// never for real runs. `Device::profile_report` reads the result.
    pub profile: bool,
    /// Register tile of the matmul kernel: 16x16 outputs per invocation (`true`) or 8x8.
    /// `None` picks 16x16 on CPU adapters (which run invocations as SIMD lanes and have no
    /// register file to overflow) and 8x8 on GPUs; outputs 64 or fewer wide always get 8x8.
    /// A tuning choice only: both are exact.
    pub matmul_wide_tiles: Option<bool>,
    /// Matmuls through `ops::matmul_texture`: operands packed into textures, op(B) shared by
    /// subgroup broadcasts. `None` picks it on CPU adapters (invocations as SIMD lanes, where a
    /// storage load in a loop is a loop over the lanes); it needs subgroups of at least 8
    /// invocations, and without them `Some(true)` falls back to the other kernels.
    /// A tuning choice only: both paths are exact.
    pub matmul_texture: Option<bool>,
    /// Reductions of long contiguous rows with a workgroup per row and a tree in workgroup
    /// memory (`reduce_rows`, and softmax's `softmax_wg`), instead of one invocation per output
    /// and chunk (`reduce_cols`) or per row (`softmax_thread`).
    /// `None` picks the tree on GPUs and not on CPU adapters, where its barriers cost more
    /// than the loads (a U-Net step's bias gradients ran 6x faster without it on lavapipe).
    /// A tuning choice only: both are exact up to rounding.
    pub workgroup_reductions: Option<bool>,
    /// Elementwise kernels (binary, unary, optimizer updates) read their inputs through flat
    /// rgba32float/r32float copies of the buffers (`texture_pool::Flat`: a copy command, no
    /// kernel) instead of from the storage buffers. `None` picks it on CPU adapters, where a
    /// storage-buffer load is a loop over the SIMD lanes and a texture read one gather
    /// (`--example access_probe`: 1.7-2.0 GB/s against 4.5-7.5 GB/s for a vec4 copy kernel on
    /// lavapipe, the buffer-to-texture copy itself 15-18 GB/s; the same example gives the cost
    /// of one read by path). `None` also leaves small
    /// inputs in their buffers (`texture_pool::PAYS_FROM_VALUES`), where the copy's fixed cost
    /// is more than it saves; `Some(true)` copies every input (as the tests do, to cover both
    /// paths at small sizes). A tuning choice only: both paths compute the same values.
    pub texture_reads: Option<bool>,
    /// Use subgroup operations where the adapter has them (subgroups of at least 8
    /// invocations): the texture matmuls and the stride-1 conv kernels hand operands round
    /// with subgroup broadcasts. `false` runs the kernels written without them, as on an
    /// adapter that lacks them (the tests cover those paths this way). Exact either way.
    pub subgroups: bool,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            backends: None,
            adapter_name: None,
            max_dispatches_per_submit: 256,
            profile: false,
            matmul_wide_tiles: None,
            matmul_texture: None,
            workgroup_reductions: None,
            texture_reads: None,
            subgroups: true,
        }
    }
}

fn rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

const NO_ADAPTER_HELP: &str = "wgpu found no Vulkan, Metal, DX12 or GL adapter. On Linux without a GPU, \
install Mesa's Vulkan drivers for a CPU fallback (lavapipe): `sudo apt-get install mesa-vulkan-drivers`. \
With a GPU, install its vendor's Vulkan driver.";

/// The adapter `opts` asks for: the best-ranked of those wgpu finds on the backends searched
/// (discrete GPUs first, CPU adapters last; Vulkan, Metal and DX12 before GL), among those
/// whose name contains `adapter_name` when given.
pub(crate) fn pick_adapter(opts: &DeviceOptions) -> Result<wgpu::Adapter> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    if let Some(b) = opts.backends {
        desc.backends = b;
    }
    let backends = desc.backends;
    let instance = wgpu::Instance::new(desc);
    let mut adapters = pollster::block_on(instance.enumerate_adapters(backends));
    if adapters.is_empty() {
        return Err(Error::NoAdapter(format!(
            "{NO_ADAPTER_HELP} (backends searched: {backends:?})"
        )));
    }
    if let Some(want) = &opts.adapter_name {
        let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        adapters.retain(|a| {
            a.get_info()
                .name
                .to_lowercase()
                .contains(&want.to_lowercase())
        });
        if adapters.is_empty() {
            return Err(Error::NoAdapter(format!(
                "no adapter name contains {want:?}; found {names:?}"
            )));
        }
    }
    // Prefer real GPUs, and Vulkan/Metal/DX12 over GL.
    adapters.sort_by_key(|a| {
        let i = a.get_info();
        (rank(i.device_type), (i.backend == wgpu::Backend::Gl) as u32)
    });
    Ok(adapters.remove(0))
}
