//! The GPU device: adapter choice, and the batched execution queue every op records into.
//!
//! Execution is eager but batched: each op records a dispatch into one pending compute pass;
//! the batch is submitted when a result is read back, on `sync`, or every
//! `max_dispatches_per_submit` dispatches. Each dispatch's uniform parameters go into one
//! per-batch uniform buffer (a 256-byte slot each), written once at submit.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::kernels::{Kernel, KernelCache};
use crate::pool::{size_class, BufferPool, TENSOR_USAGE};

pub use crate::options::DeviceOptions;

/// Counters a test or a benchmark can read.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DeviceStats {
    pub dispatches: u64,
    pub submits: u64,
    /// Bytes of GPU buffers the pool owns (in use plus cached for reuse).
    pub allocated_bytes: u64,
    /// Bytes cached in the pool, ready for reuse.
    pub cached_bytes: u64,
    pub buffers_created: u64,
    pub pipelines: usize,
}

/// A handle to the GPU. Cheap to clone; every tensor holds one.
#[derive(Clone)]
pub struct Device(pub(crate) Rc<DeviceInner>);

pub(crate) struct DeviceInner {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    kernels: KernelCache,
    pool: RefCell<BufferPool>,
    batch: RefCell<Batch>,
    /// True while a batch is open: buffers freed then are `dirty` until it is submitted.
    batch_open: Cell<bool>,
    uniform_free: RefCell<Vec<wgpu::Buffer>>,
    /// Errors reported by wgpu outside our checks (device lost, uncaptured errors).
    errors: Arc<Mutex<Vec<String>>>,
    uniform_slot: u64,
    max_dispatches: usize,
    pub matmul_wide_tiles: bool,
    /// Whether matmuls run `ops::matmul_texture` (DeviceOptions::matmul_texture, and the
    /// adapter has subgroups of at least 8).
    pub matmul_texture: bool,
    /// The adapter has wgpu's SUBGROUP feature with subgroups of at least 8 invocations, and
    /// `DeviceOptions::subgroups` allows them.
    pub subgroups8: bool,
    pub workgroup_reductions: bool,
    /// Elementwise kernels read their inputs through flat textures (`texture_pool::Flat`)
    /// when they hold at least this many values per input; `None`: never
    /// (DeviceOptions::texture_reads).
    pub texture_reads_from: Option<usize>,
    /// Textures kernels read inputs through, by (format, usage, width, height), ready for
    /// reuse (`texture_pool`).
    pub(crate) textures: RefCell<HashMap<TextureKey, Vec<crate::texture_pool::Pooled>>>,
    /// Philox key and the next counter: see `ops::random`.
    pub(crate) rng: Cell<(u64, u64)>,
    stats: Cell<DeviceStats>,
    profile: Option<crate::profile::Profile>,
}

pub(crate) type TextureKey = (wgpu::TextureFormat, wgpu::TextureUsages, u32, u32);

#[derive(Default)]
struct Batch {
    encoder: Option<wgpu::CommandEncoder>,
    pass: Option<wgpu::ComputePass<'static>>,
    uniform_buf: Option<wgpu::Buffer>,
    uniforms: Vec<u8>,
    dispatches: usize,
}

impl Device {
    /// The best adapter wgpu finds: a discrete GPU first, then integrated, virtual, CPU.
    pub fn new() -> Result<Device> {
        Device::with_options(DeviceOptions::default())
    }

    pub fn with_options(opts: DeviceOptions) -> Result<Device> {
        let adapter = crate::options::pick_adapter(&opts)?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("engine"),
            required_features: adapter.features() & wgpu::Features::SUBGROUP,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::RequestDevice(format!("{} ({:?}): {e}", info.name, info.backend)))?;

        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap().push(e.to_string())
        }));
        let sink = errors.clone();
        device.set_device_lost_callback(move |reason, msg| {
            sink.lock()
                .unwrap()
                .push(format!("device lost ({reason:?}): {msg}"))
        });
        let uniform_slot = (limits.min_uniform_buffer_offset_alignment as u64).max(256);
        let matmul_wide_tiles = opts
            .matmul_wide_tiles
            .unwrap_or(info.device_type == wgpu::DeviceType::Cpu);
        let subgroups8 = opts.subgroups
            && device.features().contains(wgpu::Features::SUBGROUP)
            && info.subgroup_min_size >= 8;
        let matmul_texture = subgroups8
            && opts
                .matmul_texture
                .unwrap_or(info.device_type == wgpu::DeviceType::Cpu);
        let workgroup_reductions = opts
            .workgroup_reductions
            .unwrap_or(info.device_type != wgpu::DeviceType::Cpu);
        let texture_reads_from = match opts.texture_reads {
            Some(true) => Some(0),
            Some(false) => None,
            None => (info.device_type == wgpu::DeviceType::Cpu)
                .then_some(crate::texture_pool::PAYS_FROM_VALUES),
        };
        Ok(Device(Rc::new(DeviceInner {
            device,
            queue,
            info,
            limits,
            kernels: KernelCache::default(),
            pool: RefCell::new(BufferPool::default()),
            batch: RefCell::new(Batch::default()),
            batch_open: Cell::new(false),
            uniform_free: RefCell::new(Vec::new()),
            errors,
            uniform_slot,
            max_dispatches: opts.max_dispatches_per_submit.max(1),
            matmul_wide_tiles,
            matmul_texture,
            subgroups8,
            workgroup_reductions,
            texture_reads_from,
            textures: RefCell::new(HashMap::new()),
            rng: Cell::new((0x853c_49e6_748f_ea9b, 0)),
            stats: Cell::new(DeviceStats::default()),
            profile: opts.profile.then(crate::profile::Profile::default),
        })))
    }

    /// Time per kernel since the device was made or `profile_reset` (empty unless made with
    /// `DeviceOptions::profile`), the most time first. `engine::profile::format_report`
    /// prints it as a table.
    pub fn profile_report(&self) -> Vec<crate::profile::KernelTime> {
        self.0
            .profile
            .as_ref()
            .map(|p| p.report())
            .unwrap_or_default()
    }

    pub fn profile_reset(&self) {
        if let Some(p) = &self.0.profile {
            p.reset();
        }
    }

    /// Whether matmuls run `ops::matmul_texture` on this device (see
    /// `DeviceOptions::matmul_texture`).
    pub fn runs_matmul_texture(&self) -> bool {
        self.0.matmul_texture
    }

    /// One line naming the adapter: "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu, driver Mesa 22.3.6)".
    pub fn describe(&self) -> String {
        let i = &self.0.info;
        format!(
            "{} ({:?}, {:?}, driver {} {})",
            i.name, i.backend, i.device_type, i.driver, i.driver_info
        )
    }

    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.0.info
    }

    pub fn limits(&self) -> &wgpu::Limits {
        &self.0.limits
    }

    /// The raw wgpu device and queue, for benchmarks and extensions.
    pub fn wgpu(&self) -> (&wgpu::Device, &wgpu::Queue) {
        (&self.0.device, &self.0.queue)
    }

    pub fn stats(&self) -> DeviceStats {
        let mut s = self.0.stats.get();
        let pool = self.0.pool.borrow();
        s.allocated_bytes = pool.allocated_bytes;
        s.cached_bytes = pool.cached_bytes();
        s.buffers_created = pool.created;
        s.pipelines = self.0.kernels.pipelines_compiled();
        s
    }

    /// Sets the seed of the GPU random generator and rewinds its stream.
    pub fn manual_seed(&self, seed: u64) {
        self.0.rng.set((seed, 0));
    }

    /// (seed, offset): the generator's whole state, saved in checkpoints.
    pub fn rng_state(&self) -> (u64, u64) {
        self.0.rng.get()
    }

    pub fn set_rng_state(&self, state: (u64, u64)) {
        self.0.rng.set(state)
    }

    /// Submits pending work and waits until the GPU has finished it.
    pub fn sync(&self) -> Result<()> {
        self.0.flush();
        self.0.wait()?;
        self.0.check()
    }

    /// Same as `is_same`: two handles to one device.
    pub fn same(&self, other: &Device) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

/// A GPU buffer owned by one or more tensors (reshape shares it); goes back to the pool on drop.
pub(crate) struct Storage {
    pub buffer: Option<wgpu::Buffer>,
    pub class: u64,
    pub dev: Rc<DeviceInner>,
}

impl Storage {
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().unwrap()
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(b) = self.buffer.take() {
            self.dev.release(self.class, b);
        }
    }
}

impl DeviceInner {
    /// A buffer of at least `bytes` for a dispatch to write, from the pool or new.
    /// `what` names the tensor in errors.
    pub fn alloc(self: &Rc<Self>, bytes: u64, what: &dyn Fn() -> String) -> Storage {
        self.alloc_for(bytes, true, what)
    }

    /// A buffer that `write_fresh` may fill (no unsubmitted command uses it).
    pub fn alloc_for_upload(self: &Rc<Self>, bytes: u64, what: &dyn Fn() -> String) -> Storage {
        self.alloc_for(bytes, false, what)
    }

    fn alloc_for(
        self: &Rc<Self>,
        bytes: u64,
        dirty_ok: bool,
        what: &dyn Fn() -> String,
    ) -> Storage {
        let max = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        if bytes > max {
            panic!(
                "{}: needs {:.1} MiB, over this device's largest storage buffer of {:.1} MiB ({})",
                what(),
                bytes as f64 / 1048576.0,
                max as f64 / 1048576.0,
                self.info.name
            );
        }
        let class = size_class(bytes).min(max / 4 * 4).max(bytes);
        if let Some(b) = self.pool.borrow_mut().take(class, dirty_ok) {
            return Storage {
                buffer: Some(b),
                class,
                dev: self.clone(),
            };
        }
        let mut buffer = self.try_create(class);
        if buffer.is_none() {
            // Out of memory: drop what the pool caches and try once more.
            self.flush();
            let _ = self.wait();
            self.pool.borrow_mut().trim();
            buffer = self.try_create(class);
        }
        let Some(buffer) = buffer else {
            panic!(
                "{}: out of GPU memory allocating {:.1} MiB ({:.1} MiB already allocated on {})",
                what(),
                class as f64 / 1048576.0,
                self.pool.borrow().allocated_bytes as f64 / 1048576.0,
                self.info.name
            );
        };
        let mut pool = self.pool.borrow_mut();
        pool.allocated_bytes += class;
        pool.created += 1;
        Storage {
            buffer: Some(buffer),
            class,
            dev: self.clone(),
        }
    }

    fn try_create(&self, size: u64) -> Option<wgpu::Buffer> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let b = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage: TENSOR_USAGE,
            mapped_at_creation: false,
        });
        match pollster::block_on(scope.pop()) {
            None => Some(b),
            Some(_) => None,
        }
    }

    fn release(&self, class: u64, buffer: wgpu::Buffer) {
        self.pool
            .borrow_mut()
            .give_back(class, buffer, self.batch_open.get());
    }

    /// Records one dispatch: `buffers` bound at 0..n, `params` as a uniform at binding n.
    pub fn dispatch(
        &self,
        kernel: &Kernel,
        buffers: &[&wgpu::Buffer],
        params: &[u8],
        groups: [u32; 3],
    ) {
        let resources: Vec<_> = buffers.iter().map(|b| b.as_entire_binding()).collect();
        self.dispatch_bound(kernel, &resources, params, groups);
    }

    /// `dispatch` with each binding given as a resource (a range of a buffer, say).
    pub fn dispatch_bound(
        &self,
        kernel: &Kernel,
        buffers: &[wgpu::BindingResource],
        params: &[u8],
        groups: [u32; 3],
    ) {
        self.dispatch_bound_at(kernel, buffers, buffers.len(), params, groups)
    }

    /// `dispatch_bound` with the uniform at binding `uniform_at` and the resources from
    /// `buffers[uniform_at]` on bound after it (for a kernel family whose shared code names the
    /// uniform's binding and some entry points bind more).
    pub fn dispatch_bound_at(
        &self,
        kernel: &Kernel,
        buffers: &[wgpu::BindingResource],
        uniform_at: usize,
        params: &[u8],
        groups: [u32; 3],
    ) {
        assert!(
            params.len() as u64 <= self.uniform_slot,
            "{}: parameters over {} bytes",
            kernel.entry,
            self.uniform_slot
        );
        let max_groups = self.limits.max_compute_workgroups_per_dimension;
        assert!(
            groups.iter().all(|&g| g <= max_groups),
            "{}: grid {groups:?} over the device limit of {max_groups} workgroups per dimension",
            kernel.entry
        );
        if groups.contains(&0) {
            return;
        }
        let started = self.profile.as_ref().map(|_| std::time::Instant::now());
        let pipeline = self.kernels.pipeline(&self.device, kernel);
        let full = {
            let mut batch = self.batch.borrow_mut();
            self.open(&mut batch);
            let offset = batch.uniforms.len() as u64;
            batch.uniforms.extend_from_slice(params);
            batch
                .uniforms
                .resize((offset + self.uniform_slot) as usize, 0);
            let ubuf = batch.uniform_buf.as_ref().unwrap();
            let mut entries: Vec<wgpu::BindGroupEntry> = buffers
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: (i + (i >= uniform_at) as usize) as u32,
                    resource: b.clone(),
                })
                .collect();
            let size = (params.len() as u64).div_ceil(16).max(1) * 16;
            entries.push(wgpu::BindGroupEntry {
                binding: uniform_at as u32,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: ubuf,
                    offset,
                    size: wgpu::BufferSize::new(size),
                }),
            });
            let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            });
            if batch.pass.is_none() {
                let pass = batch
                    .encoder
                    .as_mut()
                    .unwrap()
                    .begin_compute_pass(&Default::default());
                batch.pass = Some(pass.forget_lifetime());
            }
            let pass = batch.pass.as_mut().unwrap();
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
            batch.dispatches += 1;
            batch.dispatches >= self.max_dispatches
        };
        let mut s = self.stats.get();
        s.dispatches += 1;
        self.stats.set(s);
        if let (Some(p), Some(t0)) = (&self.profile, started) {
            self.flush();
            // A failed wait shows up at the next sync; here it only spoils the timing.
            let _ = self.wait();
            p.add(
                format!("{}/{}", kernel.shader.name, kernel.entry),
                t0.elapsed(),
            );
        } else if full {
            self.flush();
        }
    }

    /// Records work on the pending encoder outside any compute pass (buffer copies).
    pub fn encode(&self, f: impl FnOnce(&mut wgpu::CommandEncoder)) {
        let mut batch = self.batch.borrow_mut();
        self.open(&mut batch);
        batch.pass = None;
        f(batch.encoder.as_mut().unwrap());
    }

    fn open(&self, batch: &mut Batch) {
        if batch.encoder.is_some() {
            return;
        }
        batch.encoder = Some(self.device.create_command_encoder(&Default::default()));
        let ubuf = self.uniform_free.borrow_mut().pop().unwrap_or_else(|| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("uniforms"),
                size: self.uniform_slot * self.max_dispatches as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        batch.uniform_buf = Some(ubuf);
        batch.uniforms.clear();
        batch.dispatches = 0;
        self.batch_open.set(true);
    }

    /// Submits the pending batch, if any.
    pub fn flush(&self) {
        let (encoder, ubuf, uniforms) = {
            let mut batch = self.batch.borrow_mut();
            let Some(encoder) = batch.encoder.take() else {
                return;
            };
            batch.pass = None;
            (
                encoder,
                batch.uniform_buf.take().unwrap(),
                std::mem::take(&mut batch.uniforms),
            )
        };
        if !uniforms.is_empty() {
            self.queue.write_buffer(&ubuf, 0, &uniforms);
        }
        self.queue.submit([encoder.finish()]);
        self.uniform_free.borrow_mut().push(ubuf);
        self.batch.borrow_mut().uniforms = uniforms;
        self.batch_open.set(false);
        self.pool.borrow_mut().batch_submitted();
        let mut s = self.stats.get();
        s.submits += 1;
        self.stats.set(s);
    }

    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU failed: {e}")))
    }

    /// Errors wgpu reported asynchronously (device lost, uncaptured validation or OOM).
    pub fn check(&self) -> Result<()> {
        let errs = self.errors.lock().unwrap();
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::Gpu(errs.join("; ")))
        }
    }

    /// Copies `bytes` from the start of `src` back to the CPU (submits pending work first).
    pub fn read(&self, src: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.encode(|enc| enc.copy_buffer_to_buffer(src, 0, &staging, 0, bytes));
        self.flush();
        let slice = staging.slice(..);
        let status = Arc::new(Mutex::new(None));
        let s2 = status.clone();
        slice.map_async(wgpu::MapMode::Read, move |r| *s2.lock().unwrap() = Some(r));
        self.wait()?;
        self.check()?;
        match status.lock().unwrap().take() {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                return Err(Error::Gpu(format!("mapping a readback buffer failed: {e}")))
            }
            None => return Err(Error::Gpu("readback did not complete".into())),
        }
        let data = slice
            .get_mapped_range()
            .map_err(|e| Error::Gpu(format!("{e}")))?
            .to_vec();
        staging.unmap();
        Ok(data)
    }

    /// Writes into a buffer that may be used by recorded commands: submits them first, so the
    /// write lands after them.
    pub fn write_live(&self, dst: &wgpu::Buffer, data: &[u8]) {
        self.flush();
        self.queue.write_buffer(dst, 0, data);
    }

    /// Writes into a buffer fresh from `alloc_for_upload` (no recorded command uses it).
    pub fn write_fresh(&self, dst: &wgpu::Buffer, data: &[u8]) {
        self.queue.write_buffer(dst, 0, data);
    }
}
