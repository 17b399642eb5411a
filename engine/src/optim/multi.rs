//! Updates of several parameter tensors per dispatch (`adam_multi`, `adam_multi8`,
//! `ema_multi` in shaders/optim.wgsl): the "foreach" form of Adam and the EMA.
//!
//! A model has many small parameters (biases, norm scales, the U-Net's time and label
//! adapters), and on an adapter where a dispatch has a fixed cost of tens of microseconds
//! (lavapipe: ~70 us, `cargo run --release -p engine --example dispatch_cost`) updating each
//! one on its own costs far more than the arithmetic. These kernels bind the buffers of up to
//! 4 or 8 (Adam: p, g, m, v each; 8 where the device binds 32 storage buffers) or 8 (EMA: p,
//! shadow) parameters and run over their elements end to end, 4 per invocation. Tensors that
//! a CPU adapter updates faster through texture copies (large ones, see
//! `texture_pool::PAYS_FROM_VALUES`) keep their own dispatch.

use super::Params;
use crate::device::Device;
use crate::kernels::{Kernel, OPTIM};
use crate::shape::grid_1d;
use crate::tensor::Tensor;

/// Parameters per `adam_multi` dispatch (4 buffers each) and per `ema_multi` (2 each): 16
/// storage buffers per dispatch, within Metal's 31 and what Vulkan and DX12 adapters give;
/// `adam_multi8` takes 8 parameters (32 buffers) where the device allows.
const ADAM_SLOTS: usize = 4;
const ADAM_SLOTS_WIDE: usize = 8;
pub(super) const EMA_SLOTS: usize = 8;
const BUFFERS: u32 = 16;

/// Parameters per Adam dispatch on this device (4, or 8 with 32 storage buffers per stage).
pub(super) fn adam_slots(dev: &Device) -> usize {
    match dev.limits().max_storage_buffers_per_shader_stage {
        32.. => ADAM_SLOTS_WIDE,
        _ => ADAM_SLOTS,
    }
}

/// Mirrors `MultiParams` in optim.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MultiParams {
    u: Params,
    /// Cumulative vec4 counts of the slots, padded with the total.
    ends: [u32; 8],
}

/// Whether this device can bind the 16 storage buffers a multi-tensor dispatch needs.
pub(super) fn available(dev: &Device) -> bool {
    dev.limits().max_storage_buffers_per_shader_stage >= BUFFERS
}

/// Whether each tensor's buffer holds whole vec4s past its last value, as the multi kernels
/// read and write them: true for pooled buffers (at least 256 bytes, in steps of 32) except a
/// tensor near the device's largest binding, whose buffer is exactly its size.
pub(super) fn holds_vec4s(ts: &[&Tensor]) -> bool {
    ts.iter()
        .all(|t| t.buffer().size() >= (t.numel().div_ceil(4) * 16) as u64)
}

/// Runs `kernel` over `items` (each: the buffers of one parameter, the parameter first, so
/// its element count sizes the slot), `slots` items per dispatch.
pub(super) fn dispatch(op: &str, kernel: &Kernel, slots: usize, items: &[Vec<&Tensor>], u: Params) {
    let Some(first) = items.first() else { return };
    let dev = first[0].device();
    for chunk in items.chunks(slots) {
        let mut ends = [0u32; 8];
        let mut total = 0u32;
        for (s, item) in chunk.iter().enumerate() {
            // Whole vec4s: the last may run into the buffer's padding (see optim.wgsl).
            let n = u32::try_from(item[0].numel().div_ceil(4)).ok();
            total = n.and_then(|n| total.checked_add(n)).unwrap_or_else(|| {
                panic!(
                    "{op}: parameters of {} values do not fit one dispatch",
                    item[0].numel()
                )
            });
            ends[s] = total;
        }
        ends[chunk.len()..].fill(total);
        // Unused slots repeat slot 0's buffers; they cover no elements.
        let buffers: Vec<&wgpu::Buffer> = (0..slots)
            .flat_map(|s| chunk.get(s).unwrap_or(&chunk[0]).iter().map(|t| t.buffer()))
            .collect();
        let params = MultiParams { u, ends };
        dev.0.dispatch(
            kernel,
            &buffers,
            bytemuck::bytes_of(&params),
            grid_1d(total as usize, 256),
        );
    }
}

/// `adam_multi` over parameters with their gradients and moments, `[p, g, m, v]` each.
pub(super) fn adam(items: &[Vec<&Tensor>], decoupled: bool, u: Params) {
    let Some(first) = items.first() else { return };
    let slots = adam_slots(first[0].device());
    let entry = match slots {
        ADAM_SLOTS_WIDE => "adam_multi8",
        _ => "adam_multi",
    };
    let kernel = Kernel::new(OPTIM, entry).with("DECOUPLED", decoupled as u32 as f64);
    dispatch("Adam", &kernel, slots, items, u);
}

/// `ema_multi` over parameters with their shadows, `[p, shadow]` each.
pub(super) fn ema(items: &[Vec<&Tensor>], u: Params) {
    dispatch("Ema", &Kernel::new(OPTIM, "ema_multi"), EMA_SLOTS, items, u);
}
