//! A pool of GPU buffers bucketed by size class, so a training loop that frees and
//! re-creates tensors of the same sizes every step stops allocating after the first steps.
//!
//! A buffer freed while a batch is open may still be read by commands recorded but not yet
//! submitted. Another dispatch of the same batch may reuse it (wgpu orders dispatches that share
//! a buffer), but `queue.write_buffer` may not: queue writes run before the next submission's
//! commands, so the earlier reads would see the new data. Such buffers are kept apart as
//! `dirty` until the batch is submitted; uploads take only `clean` buffers.

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
    /// Not used by any unsubmitted command: safe for any use.
    clean: HashMap<u64, Vec<wgpu::Buffer>>,
    /// Freed during the open batch: safe as a dispatch output, not as an upload target.
    dirty: HashMap<u64, Vec<wgpu::Buffer>>,
    /// Bytes of every buffer this pool created and has not dropped: live plus cached.
    pub allocated_bytes: u64,
    /// How many buffers were ever created (a flat count over a loop means no new allocations).
    pub created: u64,
}

impl BufferPool {
    /// A cached buffer of this class; `dirty_ok` allows one freed during the open batch.
    pub fn take(&mut self, class: u64, dirty_ok: bool) -> Option<wgpu::Buffer> {
        if dirty_ok {
            if let Some(b) = self.dirty.get_mut(&class).and_then(|v| v.pop()) {
                return Some(b);
            }
        }
        self.clean.get_mut(&class).and_then(|v| v.pop())
    }

    pub fn give_back(&mut self, class: u64, buffer: wgpu::Buffer, dirty: bool) {
        let map = if dirty {
            &mut self.dirty
        } else {
            &mut self.clean
        };
        map.entry(class).or_default().push(buffer);
    }

    /// The open batch was submitted: its freed buffers are clean now.
    pub fn batch_submitted(&mut self) {
        for (class, mut bufs) in self.dirty.drain() {
            self.clean.entry(class).or_default().append(&mut bufs);
        }
    }

    /// Drops every cached buffer (used before retrying an allocation that ran out of memory).
    pub fn trim(&mut self) {
        for (class, bufs) in self.clean.drain() {
            self.allocated_bytes -= class * bufs.len() as u64;
        }
    }

    pub fn cached_bytes(&self) -> u64 {
        self.clean
            .iter()
            .chain(&self.dirty)
            .map(|(c, v)| c * v.len() as u64)
            .sum()
    }
}
