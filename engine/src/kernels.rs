//! Every WGSL file the engine uses, loaded with `include_str!`, and the cache of compiled
//! compute pipelines keyed by (shader, entry point, pipeline-overridable constants).
//!
//! Binding convention for every kernel: the buffers in the order the launcher passes them
//! (inputs first, then outputs), then one uniform struct of sizes at the next binding.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// One `.wgsl` file in `shaders/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
    /// Type aliases the source reads textures through, each a read-only storage texture whose
    /// format the kernel chooses (`Kernel::texture`; rgba32float unless it does):
    /// `alias NAME = texture_storage_2d<FORMAT, read>;` is compiled with the source, one
    /// module per choice of formats. For kernels whose inputs come in more than one format (a
    /// flat copy 1 or 4 values a texel): a WGSL type cannot be a pipeline constant.
    pub textures: &'static [&'static str],
}

macro_rules! shader {
    ($name:literal) => {
        shader!($name, [])
    };
    ($name:literal, [$($alias:literal),*]) => {
        Shader {
            name: $name,
            source: include_str!(concat!("../../shaders/", $name, ".wgsl")),
            textures: &[$($alias),*],
        }
    };
}

pub const BINARY: Shader = shader!("binary", ["BinaryTexA", "BinaryTexB"]);
pub const UNARY: Shader = shader!("unary", ["UnaryTex"]);
pub const FILL: Shader = shader!("fill");
pub const REDUCE: Shader = shader!("reduce");
pub const SOFTMAX: Shader = shader!("softmax");
pub const LAYOUT: Shader = shader!("layout");
pub const MATMUL: Shader = shader!("matmul");
pub const MATMUL_TEXTURE: Shader = shader!(
    "matmul_texture",
    ["MatmulTexA", "MatmulTexB", "MatmulTexBias"]
);
pub const MATMUL_PACK: Shader = shader!("matmul_pack");
pub const RANDOM: Shader = shader!("random");
pub const OPTIM: Shader = shader!("optim");
pub const LOSS: Shader = shader!("loss");
pub const ROOFLINE: Shader = shader!("roofline");
pub const CONV: Shader = shader!("conv");
pub const UPSAMPLE: Shader = shader!("upsample");
pub const ATTENTION: Shader = shader!("attention");
/// conv_rows.wgsl uses conv.wgsl's parameters and bindings and conv_window.wgsl's windows: one
/// module, the files in a row. It uses subgroup operations, so only devices with subgroups
/// compile it.
pub const CONV_ROWS: Shader = Shader {
    name: "conv_rows",
    source: concat!(
        include_str!("../../shaders/conv.wgsl"),
        include_str!("../../shaders/conv_rows.wgsl"),
        include_str!("../../shaders/conv_window.wgsl")
    ),
    textures: &["WindowTex"],
};
pub const CONV_GRAD_WEIGHT: Shader = shader!("conv_grad_weight");
/// conv_grad_weight_rows.wgsl with conv_window.wgsl after it (x's windows).
pub const CONV_GRAD_WEIGHT_ROWS: Shader = Shader {
    name: "conv_grad_weight_rows",
    source: concat!(
        include_str!("../../shaders/conv_grad_weight_rows.wgsl"),
        include_str!("../../shaders/conv_window.wgsl")
    ),
    textures: &["WindowTex"],
};
pub const GROUP_NORM: Shader = shader!("group_norm");

/// What to run: a shader's entry point, specialised by override constants and by the formats
/// of its texture aliases (`Shader::textures`).
#[derive(Clone, Debug)]
pub struct Kernel {
    pub shader: Shader,
    pub entry: &'static str,
    pub constants: Vec<(&'static str, f64)>,
    /// Each of `shader.textures`' format.
    pub textures: Vec<(&'static str, wgpu::TextureFormat)>,
}

impl Kernel {
    pub fn new(shader: Shader, entry: &'static str) -> Self {
        Kernel {
            shader,
            entry,
            constants: Vec::new(),
            textures: shader
                .textures
                .iter()
                .map(|a| (*a, wgpu::TextureFormat::Rgba32Float))
                .collect(),
        }
    }
    pub fn with(mut self, name: &'static str, value: f64) -> Self {
        self.constants.push((name, value));
        self
    }
    /// The shader's texture alias `alias` is a read-only storage texture of `format`.
    pub fn texture(mut self, alias: &'static str, format: wgpu::TextureFormat) -> Self {
        let Some(slot) = self.textures.iter_mut().find(|(a, _)| *a == alias) else {
            panic!(
                "shaders/{}.wgsl has no texture alias {alias}",
                self.shader.name
            );
        };
        slot.1 = format;
        self
    }
}

/// A module: the shader and the formats of its texture aliases.
type ModuleKey = (&'static str, Vec<(&'static str, wgpu::TextureFormat)>);
type Key = (ModuleKey, &'static str, Vec<(&'static str, u64)>);

#[derive(Default)]
pub struct KernelCache {
    modules: RefCell<HashMap<ModuleKey, Rc<wgpu::ShaderModule>>>,
    pipelines: RefCell<HashMap<Key, Rc<wgpu::ComputePipeline>>>,
}

/// The WGSL name of a texel format that kernels read.
fn wgsl_format(f: wgpu::TextureFormat) -> &'static str {
    match f {
        wgpu::TextureFormat::R32Float => "r32float",
        wgpu::TextureFormat::Rg32Float => "rg32float",
        wgpu::TextureFormat::Rgba32Float => "rgba32float",
        other => panic!("kernels read r32float, rg32float or rgba32float textures, not {other:?}"),
    }
}

impl KernelCache {
    pub fn pipeline(&self, device: &wgpu::Device, k: &Kernel) -> Rc<wgpu::ComputePipeline> {
        let key: Key = (
            (k.shader.name, k.textures.clone()),
            k.entry,
            k.constants.iter().map(|(n, v)| (*n, v.to_bits())).collect(),
        );
        if let Some(p) = self.pipelines.borrow().get(&key) {
            return p.clone();
        }
        let module = self.module(device, k.shader, &k.textures);
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(k.entry),
            layout: None,
            module: &module,
            entry_point: Some(k.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &k.constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            panic!(
                "shaders/{}.wgsl: entry point `{}` with constants {:?} failed to build: {e}",
                k.shader.name, k.entry, k.constants
            );
        }
        let pipeline = Rc::new(pipeline);
        self.pipelines.borrow_mut().insert(key, pipeline.clone());
        pipeline
    }

    fn module(
        &self,
        device: &wgpu::Device,
        s: Shader,
        textures: &[(&'static str, wgpu::TextureFormat)],
    ) -> Rc<wgpu::ShaderModule> {
        let key: ModuleKey = (s.name, textures.to_vec());
        if let Some(m) = self.modules.borrow().get(&key) {
            return m.clone();
        }
        // The aliases after the source (WGSL declarations may come in any order), so the line
        // numbers of compile errors are the file's.
        let mut source = String::from(s.source);
        for (alias, format) in textures {
            let f = wgsl_format(*format);
            source.push_str(&format!("\nalias {alias} = texture_storage_2d<{f}, read>;"));
        }
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let m = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(s.name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            panic!("shaders/{}.wgsl failed to compile: {e}", s.name);
        }
        let m = Rc::new(m);
        self.modules.borrow_mut().insert(key, m.clone());
        m
    }

    pub fn pipelines_compiled(&self) -> usize {
        self.pipelines.borrow().len()
    }
}
