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
}

macro_rules! shader {
    ($name:literal) => {
        Shader {
            name: $name,
            source: include_str!(concat!("../../shaders/", $name, ".wgsl")),
        }
    };
}

pub const BINARY: Shader = shader!("binary");
pub const UNARY: Shader = shader!("unary");
pub const FILL: Shader = shader!("fill");
pub const REDUCE: Shader = shader!("reduce");
pub const SOFTMAX: Shader = shader!("softmax");
pub const LAYOUT: Shader = shader!("layout");
pub const MATMUL: Shader = shader!("matmul");
pub const MATMUL_TEXTURE: Shader = shader!("matmul_texture");
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
};
pub const CONV_GRAD_WEIGHT: Shader = shader!("conv_grad_weight");
/// conv_grad_weight_rows.wgsl with conv_window.wgsl after it (x's windows).
pub const CONV_GRAD_WEIGHT_ROWS: Shader = Shader {
    name: "conv_grad_weight_rows",
    source: concat!(
        include_str!("../../shaders/conv_grad_weight_rows.wgsl"),
        include_str!("../../shaders/conv_window.wgsl")
    ),
};
pub const GROUP_NORM: Shader = shader!("group_norm");

/// What to run: a shader's entry point, specialised by override constants.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub shader: Shader,
    pub entry: &'static str,
    pub constants: Vec<(&'static str, f64)>,
}

impl Kernel {
    pub fn new(shader: Shader, entry: &'static str) -> Self {
        Kernel {
            shader,
            entry,
            constants: Vec::new(),
        }
    }
    pub fn with(mut self, name: &'static str, value: f64) -> Self {
        self.constants.push((name, value));
        self
    }
}

type Key = (&'static str, &'static str, Vec<(&'static str, u64)>);

#[derive(Default)]
pub struct KernelCache {
    modules: RefCell<HashMap<&'static str, Rc<wgpu::ShaderModule>>>,
    pipelines: RefCell<HashMap<Key, Rc<wgpu::ComputePipeline>>>,
}

impl KernelCache {
    pub fn pipeline(&self, device: &wgpu::Device, k: &Kernel) -> Rc<wgpu::ComputePipeline> {
        let key: Key = (
            k.shader.name,
            k.entry,
            k.constants.iter().map(|(n, v)| (*n, v.to_bits())).collect(),
        );
        if let Some(p) = self.pipelines.borrow().get(&key) {
            return p.clone();
        }
        let module = self.module(device, k.shader);
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

    fn module(&self, device: &wgpu::Device, s: Shader) -> Rc<wgpu::ShaderModule> {
        if let Some(m) = self.modules.borrow().get(s.name) {
            return m.clone();
        }
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let m = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(s.name),
            source: wgpu::ShaderSource::Wgsl(s.source.into()),
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            panic!("shaders/{}.wgsl failed to compile: {e}", s.name);
        }
        let m = Rc::new(m);
        self.modules.borrow_mut().insert(s.name, m.clone());
        m
    }

    pub fn pipelines_compiled(&self) -> usize {
        self.pipelines.borrow().len()
    }
}
