//! What a kernel pays to read and write memory on this adapter, by path: a 16 MiB vec4 copy
//! kernel with its source and destination each a storage buffer or a texture, beside the
//! plain copy commands that move data between buffers and textures.
//!
//!     cargo run --release -p engine --example access_probe
//!
//! On llvmpipe a storage-buffer access is a per-lane scalar loop (one iteration per lane per
//! 32-bit component), a texel fetch is a vector gather, and a storage-texture store is one
//! iteration per lane per texel; this measures what that means in GB/s.
//!
//! Then what one read of a vec4 costs a kernel by path, without the memory traffic: a loop of
//! 256 reads per invocation from 64 KiB of the source (cache-resident), as a storage buffer, a
//! sampled texture (`texture_2d<f32>`) and a read-only storage texture
//! (`texture_storage_2d<rgba32float, read>`), beside the loop computing its values instead.
//! The engine's kernels read storage textures on CPU adapters (engine/src/texture_pool.rs): on
//! llvmpipe a sampled fetch works out each lane's mip level and size before it gathers.

use std::time::Instant;

use engine::Device;

const WIDTH: u32 = 1024; // texels per row
const HEIGHT: u32 = 1024; // 1M rgba32float texels = 16 MiB
const BYTES: u64 = (WIDTH * HEIGHT * 16) as u64;

const SHADER: &str = r#"
@group(0) @binding(0) var<storage, read> src_buf: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst_buf: array<vec4<f32>>;
@group(0) @binding(2) var src_tex: texture_2d<f32>;
@group(0) @binding(3) var dst_tex: texture_storage_2d<rgba32float, write>;

const W: u32 = 1024u;

@group(0) @binding(4) var<storage, read> src1: array<f32>;
@group(0) @binding(6) var src_ro: texture_storage_2d<rgba32float, read>;
@group(0) @binding(5) var<storage, read_write> dst1: array<f32>;

// Scalar: 4 invocations per texel's worth, so the grid is 4x wider.
@compute @workgroup_size(64)
fn buf1_to_buf1(@builtin(global_invocation_id) g: vec3<u32>) {
    let i = g.y * W * 4u + g.x;
    dst1[i] = src1[i] * 2.0;
}
@compute @workgroup_size(64)
fn none_to_buf1(@builtin(global_invocation_id) g: vec3<u32>) {
    let i = g.y * W * 4u + g.x;
    dst1[i] = f32(i);
}
@compute @workgroup_size(256)
fn none256_to_buf1(@builtin(global_invocation_id) g: vec3<u32>) {
    let i = g.y * W * 4u + g.x;
    dst1[i] = f32(i);
}
@compute @workgroup_size(64)
fn none_to_buf(@builtin(global_invocation_id) g: vec3<u32>) {
    let i = g.y * W + g.x;
    dst_buf[i] = vec4<f32>(f32(i));
}
@compute @workgroup_size(64)
fn buf_to_buf(@builtin(global_invocation_id) g: vec3<u32>) {
    let i = g.y * W + g.x;
    dst_buf[i] = src_buf[i] * 2.0;
}
@compute @workgroup_size(64)
fn tex_to_buf(@builtin(global_invocation_id) g: vec3<u32>) {
    dst_buf[g.y * W + g.x] = textureLoad(src_tex, g.xy, 0) * 2.0;
}
@compute @workgroup_size(64)
fn buf_to_tex(@builtin(global_invocation_id) g: vec3<u32>) {
    textureStore(dst_tex, g.xy, src_buf[g.y * W + g.x] * 2.0);
}
@compute @workgroup_size(64)
fn tex_to_tex(@builtin(global_invocation_id) g: vec3<u32>) {
    textureStore(dst_tex, g.xy, textureLoad(src_tex, g.xy, 0) * 2.0);
}

// ---- per-read costs: 256 reads per invocation of texel i of the source's first 4 rows ----
const READS: u32 = 256u;

fn at(g: u32, k: u32) -> u32 {
    return (g * 7u + k * 61u) & 4095u;
}

@compute @workgroup_size(64)
fn read_none(@builtin(global_invocation_id) g: vec3<u32>) {
    var s = vec4<f32>(0.0);
    for (var k = 0u; k < READS; k++) { s += vec4<f32>(f32(at(g.x, k))); }
    dst_buf[g.x] = s;
}
@compute @workgroup_size(64)
fn read_buffer(@builtin(global_invocation_id) g: vec3<u32>) {
    var s = vec4<f32>(0.0);
    for (var k = 0u; k < READS; k++) { s += src_buf[at(g.x, k)]; }
    dst_buf[g.x] = s;
}
@compute @workgroup_size(64)
fn read_sampled(@builtin(global_invocation_id) g: vec3<u32>) {
    var s = vec4<f32>(0.0);
    for (var k = 0u; k < READS; k++) {
        let i = at(g.x, k);
        s += textureLoad(src_tex, vec2<u32>(i & 1023u, i >> 10u), 0);
    }
    dst_buf[g.x] = s;
}
@compute @workgroup_size(64)
fn read_storage(@builtin(global_invocation_id) g: vec3<u32>) {
    var s = vec4<f32>(0.0);
    for (var k = 0u; k < READS; k++) {
        let i = at(g.x, k);
        s += textureLoad(src_ro, vec2<u32>(i & 1023u, i >> 10u));
    }
    dst_buf[g.x] = s;
}
"#;

/// Invocations of the per-read kernels (256 reads each).
const READERS: u32 = 1 << 18;

fn main() {
    let dev = Device::new().unwrap();
    println!("adapter: {}", dev.describe());
    let (device, queue) = dev.wgpu();
    let buf = |usage| {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: BYTES,
            usage,
            mapped_at_creation: false,
        })
    };
    let storage =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    let (src_buf, dst_buf) = (buf(storage), buf(storage));
    let tex = |usage| {
        device.create_texture(&wgpu::TextureDescriptor {
            label: None,
            size: wgpu::Extent3d {
                width: WIDTH,
                height: HEIGHT,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Float,
            usage: usage | wgpu::TextureUsages::COPY_SRC | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        })
    };
    let src_tex = tex(wgpu::TextureUsages::TEXTURE_BINDING);
    let src_ro = tex(wgpu::TextureUsages::STORAGE_BINDING);
    let dst_tex = tex(wgpu::TextureUsages::STORAGE_BINDING);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: None,
        source: wgpu::ShaderSource::Wgsl(SHADER.into()),
    });
    let (sv, dv, rv) = (
        src_tex.create_view(&Default::default()),
        dst_tex.create_view(&Default::default()),
        src_ro.create_view(&Default::default()),
    );

    // The fastest of 7 runs of what `record` records, in seconds.
    let best_of = |record: &dyn Fn(&mut wgpu::CommandEncoder)| {
        let mut best = f64::MAX;
        for _ in 0..7 {
            let mut enc = device.create_command_encoder(&Default::default());
            record(&mut enc);
            let t = Instant::now();
            queue.submit([enc.finish()]);
            device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
        }
        best
    };
    let time = |what: &str, bytes_moved: u64, record: &dyn Fn(&mut wgpu::CommandEncoder)| {
        let best = best_of(record);
        println!(
            "{what:<34} {:7.2} ms  {:6.2} GB/s",
            best * 1e3,
            bytes_moved as f64 / best / 1e9
        );
    };

    let pipeline = |entry: &str| {
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: None,
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        })
    };
    let bind = |binding, resource| wgpu::BindGroupEntry { binding, resource };
    for entry in [
        "buf_to_buf",
        "tex_to_buf",
        "buf_to_tex",
        "tex_to_tex",
        "buf1_to_buf1",
        "none_to_buf1",
        "none_to_buf",
        "none256_to_buf1",
    ] {
        let pipeline = pipeline(entry);
        let layout = pipeline.get_bind_group_layout(0);
        // Auto layouts hold only the bindings an entry point uses.
        let mut entries = Vec::new();
        let (from, to) = entry.split_once("_to_").unwrap();
        match from {
            "buf" => entries.push(bind(0, src_buf.as_entire_binding())),
            "buf1" => entries.push(bind(4, src_buf.as_entire_binding())),
            "tex" => entries.push(bind(2, wgpu::BindingResource::TextureView(&sv))),
            _ => {}
        }
        match to {
            "buf" => entries.push(bind(1, dst_buf.as_entire_binding())),
            "buf1" => entries.push(bind(5, dst_buf.as_entire_binding())),
            _ => entries.push(bind(3, wgpu::BindingResource::TextureView(&dv))),
        }
        let moved = if from == "none" { BYTES } else { 2 * BYTES };
        let width = if to == "buf1" { 4 * WIDTH } else { WIDTH };
        let width = if from == "none256" { width / 4 } else { width };
        let bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &layout,
            entries: &entries,
        });
        time(&format!("kernel {entry}"), moved, &|enc| {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bg, &[]);
            pass.dispatch_workgroups(width / 64, HEIGHT, 1);
        });
    }

    let extent = wgpu::Extent3d {
        width: WIDTH,
        height: HEIGHT,
        depth_or_array_layers: 1,
    };
    let layout = wgpu::TexelCopyBufferLayout {
        offset: 0,
        bytes_per_row: Some(WIDTH * 16),
        rows_per_image: None,
    };
    time("copy buffer -> buffer", 2 * BYTES, &|enc| {
        enc.copy_buffer_to_buffer(&src_buf, 0, &dst_buf, 0, BYTES)
    });
    time("copy buffer -> texture", 2 * BYTES, &|enc| {
        enc.copy_buffer_to_texture(
            wgpu::TexelCopyBufferInfo {
                buffer: &src_buf,
                layout,
            },
            src_tex.as_image_copy(),
            extent,
        )
    });
    time("copy texture -> buffer", 2 * BYTES, &|enc| {
        enc.copy_texture_to_buffer(
            dst_tex.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &dst_buf,
                layout,
            },
            extent,
        )
    });

    // Per read: the loops' time beyond `read_none`'s, in ns per lane and read on all the
    // adapter's threads together.
    println!("per read of a vec4 (256 a loop, from cache):");
    let mut base = None;
    for entry in ["read_none", "read_buffer", "read_sampled", "read_storage"] {
        let pipeline = pipeline(entry);
        let mut entries = vec![bind(1, dst_buf.as_entire_binding())];
        match entry {
            "read_buffer" => entries.push(bind(0, src_buf.as_entire_binding())),
            "read_sampled" => entries.push(bind(2, wgpu::BindingResource::TextureView(&sv))),
            "read_storage" => entries.push(bind(6, wgpu::BindingResource::TextureView(&rv))),
            _ => {}
        }
        let bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let best = best_of(&|enc| {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bg, &[]);
            pass.dispatch_workgroups(READERS / 64, 1, 1);
        });
        let ns = best / (READERS as f64 * 256.0) * 1e9;
        let extra = base.map(|b| format!(", {:.2} beyond read_none", ns - b));
        println!(
            "kernel {entry:<27} {:7.2} ms  {ns:.2} ns per lane and read{}",
            best * 1e3,
            extra.unwrap_or_default()
        );
        base.get_or_insert(ns);
    }
}
