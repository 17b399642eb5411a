//! A pool of GPU buffers bucketed by size class, so a training loop that frees and
//! re-creates tensors of the same sizes every step stops allocating after the first steps.
//!
//! A freed buffer may still be read by commands recorded but not yet submitted; the device
//! therefore hands freed buffers to the pool only after the batch holding them is submitted
//! (see `Device::release`). Any buffer taken from the pool is thus safe to fill with
//! `queue.write_buffer`, which runs before the next submission's commands.

use std::collections::HashMap;

/// Usage of every tensor buffer: bound as storage, copied to and from.
pub const TENSOR_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Rounds a size up to its class: at least 256 bytes, then steps of 1/8 of the power of
/// two below it, so at most 12.5% is wasted and similar sizes share buffers.
pub fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(256);
    let step = (1u64 << (63 - b.leading_zeros())) / 8;
    b.div_ceil(step) * step
}

#[derive(Default)]
pub struct BufferPool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    /// Bytes of every buffer this pool created and has not dropped: live plus cached.
    pub allocated_bytes: u64,
    /// How many buffers were ever created (a flat count over a loop means no new allocations).
    pub created: u64,
}

impl BufferPool {
    pub fn take(&mut self, class: u64) -> Option<wgpu::Buffer> {
        self.free.get_mut(&class).and_then(|v| v.pop())
    }

    pub fn give_back(&mut self, class: u64, buffer: wgpu::Buffer) {
        self.free.entry(class).or_default().push(buffer);
    }

    /// Drops every cached buffer (used before retrying an allocation that ran out of memory).
    pub fn trim(&mut self) {
        for (class, bufs) in self.free.drain() {
            self.allocated_bytes -= class * bufs.len() as u64;
        }
    }

    pub fn cached_bytes(&self) -> u64 {
        self.free.iter().map(|(c, v)| c * v.len() as u64).sum()
    }
}
