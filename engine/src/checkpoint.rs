//! Checkpoints: named f32 tensors plus string metadata, stored as a safetensors file.
//!
//! A `Checkpoint` lives on the CPU: `insert` reads a tensor back, `restore` writes one into an
//! existing tensor (checking its shape). `save` never leaves a half-written file at the target
//! path: it writes `<path>.tmp` in the same directory, fsyncs it and renames it over the target.
//!
//! A training checkpoint (`Checkpoint::training` / `restore_training`) holds the named
//! parameters, the optimizer state tensors under `optim.<name>`, and as metadata the step,
//! the optimizer's step count and learning rate, and the device generator's (seed, offset):
//! everything needed for a resumed run to continue bit for bit.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::optim::Optimizer;
use crate::shape;
use crate::tensor::Tensor;

/// Prefix of the optimizer's state tensors in a training checkpoint.
const OPTIM_PREFIX: &str = "optim.";

#[derive(Clone, Debug, Default)]
pub struct Checkpoint {
    /// name -> (shape, row-major data)
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    metadata: BTreeMap<String, String>,
    /// The file this was loaded from, named in error messages.
    source: Option<PathBuf>,
}

fn err(msg: String) -> Error {
    Error::Checkpoint(msg)
}

impl Checkpoint {
    pub fn new() -> Checkpoint {
        Checkpoint::default()
    }

    /// Reads `t` back from the GPU and stores it as `name` (replacing any tensor of that name).
    pub fn insert(&mut self, name: impl Into<String>, t: &Tensor) {
        self.insert_data(name, t.shape(), t.to_vec());
    }

    pub fn insert_data(&mut self, name: impl Into<String>, shape: &[usize], data: Vec<f32>) {
        let name = name.into();
        assert_eq!(
            shape::numel(shape),
            data.len(),
            "Checkpoint::insert_data: `{name}`: {} values for shape {shape:?}",
            data.len()
        );
        self.tensors.insert(name, (shape.to_vec(), data));
    }

    /// (shape, data) of a stored tensor.
    pub fn get(&self, name: &str) -> Option<(&[usize], &[f32])> {
        self.tensors
            .get(name)
            .map(|(s, d)| (s.as_slice(), d.as_slice()))
    }

    /// Tensor names in sorted order.
    pub fn names(&self) -> Vec<&str> {
        self.tensors.keys().map(String::as_str).collect()
    }

    pub fn set_meta(&mut self, key: impl Into<String>, value: impl ToString) {
        self.metadata.insert(key.into(), value.to_string());
    }

    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// A metadata entry parsed as an integer; errors name the key and the file.
    pub fn meta_u64(&self, key: &str) -> Result<u64> {
        let v = self
            .meta(key)
            .ok_or_else(|| err(format!("{}: no metadata entry `{key}`", self.file())))?;
        v.parse().map_err(|_| {
            err(format!(
                "{}: metadata `{key}` = {v:?} is not an integer",
                self.file()
            ))
        })
    }

    fn file(&self) -> String {
        match &self.source {
            Some(p) => p.display().to_string(),
            None => "checkpoint in memory".into(),
        }
    }

    /// Writes every tensor as F32 (atomically: see the module comment).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(n, (s, d))| {
                (
                    n.clone(),
                    s.clone(),
                    d.iter().flat_map(|v| v.to_le_bytes()).collect(),
                )
            })
            .collect();
        self.write(path.as_ref(), Dtype::F32, &bytes)
    }

    /// Writes every tensor as F16 (rounded to nearest; a smaller file for export or sampling).
    pub fn save_f16(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(n, (s, d))| {
                (
                    n.clone(),
                    s.clone(),
                    d.iter()
                        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                        .collect(),
                )
            })
            .collect();
        self.write(path.as_ref(), Dtype::F16, &bytes)
    }

    fn write(
        &self,
        path: &Path,
        dtype: Dtype,
        tensors: &[(String, Vec<usize>, Vec<u8>)],
    ) -> Result<()> {
        let shown = path.display();
        let mut views = Vec::with_capacity(tensors.len());
        for (name, shape, data) in tensors {
            let view = safetensors::tensor::TensorView::new(dtype, shape.clone(), data)
                .map_err(|e| err(format!("{shown}: tensor `{name}`: {e}")))?;
            views.push((name.as_str(), view));
        }
        let meta: HashMap<String, String> = self.metadata.clone().into_iter().collect();
        let bytes = safetensors::serialize(views, Some(meta))
            .map_err(|e| err(format!("{shown}: serializing: {e}")))?;
        let mut tmp_name = path
            .file_name()
            .ok_or_else(|| err(format!("{shown}: not a file path")))?
            .to_os_string();
        tmp_name.push(".tmp");
        let tmp = path.with_file_name(tmp_name);
        let io = |what: &str, e: std::io::Error| err(format!("{}: {what}: {e}", tmp.display()));
        let mut f = File::create(&tmp).map_err(|e| io("cannot create", e))?;
        f.write_all(&bytes).map_err(|e| io("write failed", e))?;
        f.sync_all().map_err(|e| io("fsync failed", e))?;
        drop(f);
        std::fs::rename(&tmp, path)
            .map_err(|e| err(format!("renaming {} to {shown}: {e}", tmp.display())))?;
        // Make the rename itself durable (best effort: not every platform can open a directory).
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Reads a safetensors file. F32 tensors load as they are, F16 ones are widened to f32;
    /// any other dtype is an error naming the tensor.
    pub fn load(path: impl AsRef<Path>) -> Result<Checkpoint> {
        let path = path.as_ref();
        let shown = path.display();
        let bytes =
            std::fs::read(path).map_err(|e| err(format!("{shown}: cannot read the file: {e}")))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| {
            err(format!(
                "{shown}: not a safetensors file, or its header is corrupt or truncated ({e})"
            ))
        })?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| err(format!("{shown}: corrupt header ({e})")))?;
        let mut ck = Checkpoint {
            source: Some(path.to_path_buf()),
            ..Checkpoint::default()
        };
        if let Some(meta) = header.metadata() {
            ck.metadata = meta.clone().into_iter().collect();
        }
        for (name, view) in st.iter() {
            let raw = view.data();
            let data: Vec<f32> = match view.dtype() {
                Dtype::F32 => raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                Dtype::F16 => raw
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                other => {
                    return Err(err(format!("{shown}: tensor `{name}` has dtype {other:?}; only F32 (or F16) tensors can be loaded")));
                }
            };
            ck.tensors
                .insert(name.to_string(), (view.shape().to_vec(), data));
        }
        Ok(ck)
    }

    fn lookup(&self, name: &str) -> Result<(&[usize], &[f32])> {
        self.get(name).ok_or_else(|| {
            err(format!(
                "{}: no tensor `{name}`; the file has: [{}]",
                self.file(),
                self.names().join(", ")
            ))
        })
    }

    /// Overwrites `t` with the stored tensor `name`; the shapes must be equal.
    pub fn restore(&self, name: &str, t: &Tensor) -> Result<()> {
        let (shape, data) = self.lookup(name)?;
        if shape != t.shape() {
            return Err(err(format!(
                "{}: tensor `{name}` has shape {shape:?} in the file but {:?} in the model",
                self.file(),
                t.shape()
            )));
        }
        t.copy_from_slice(data);
        Ok(())
    }

    /// A new tensor on `dev` holding the stored tensor `name`.
    pub fn to_tensor(&self, dev: &Device, name: &str) -> Result<Tensor> {
        let (shape, data) = self.lookup(name)?;
        Ok(Tensor::from_slice(dev, data, shape))
    }

    /// A checkpoint of named parameters only (e.g. to export with `save_f16`).
    pub fn from_params(params: &[(&str, &Tensor)]) -> Checkpoint {
        let mut ck = Checkpoint::new();
        for (name, t) in params {
            ck.insert(*name, t);
        }
        ck
    }

    /// The whole training state: parameters by name, the optimizer's state tensors (as
    /// `optim.<name>`), and metadata `step`, `optim.steps`, `optim.lr`, `rng.seed`, `rng.offset`.
    pub fn training(
        params: &[(&str, &Tensor)],
        opt: &dyn Optimizer,
        dev: &Device,
        step: u64,
    ) -> Checkpoint {
        for (name, _) in params {
            assert!(!name.starts_with(OPTIM_PREFIX), "Checkpoint::training: parameter name `{name}` uses the reserved prefix `{OPTIM_PREFIX}`");
        }
        let mut ck = Checkpoint::from_params(params);
        for (name, t) in opt.state() {
            ck.insert(format!("{OPTIM_PREFIX}{name}"), &t);
        }
        let (seed, offset) = dev.rng_state();
        ck.set_meta("step", step);
        ck.set_meta("optim.steps", opt.step_count());
        ck.set_meta("optim.lr", opt.lr());
        ck.set_meta("rng.seed", seed);
        ck.set_meta("rng.offset", offset);
        ck
    }

    /// Restores what `training` saved into existing parameters, optimizer and device (all
    /// checked before anything is written). Returns the saved step.
    pub fn restore_training(
        &self,
        params: &[(&str, &Tensor)],
        opt: &mut dyn Optimizer,
        dev: &Device,
    ) -> Result<u64> {
        let state = opt.state();
        let step = self.meta_u64("step")?;
        let steps = self.meta_u64("optim.steps")?;
        let rng = (self.meta_u64("rng.seed")?, self.meta_u64("rng.offset")?);
        let lr_text = self.meta("optim.lr").unwrap_or("");
        let lr: f32 = lr_text.parse().map_err(|_| {
            err(format!(
                "{}: metadata `optim.lr` = {lr_text:?} is not a number",
                self.file()
            ))
        })?;
        let targets: Vec<(String, &Tensor)> = params
            .iter()
            .map(|(n, t)| (n.to_string(), *t))
            .chain(state.iter().map(|(n, t)| (format!("{OPTIM_PREFIX}{n}"), t)))
            .collect();
        for (name, t) in &targets {
            let (shape, _) = self.lookup(name)?;
            if shape != t.shape() {
                return Err(err(format!(
                    "{}: tensor `{name}` has shape {shape:?} in the file but {:?} in the model",
                    self.file(),
                    t.shape()
                )));
            }
        }
        for (name, t) in &targets {
            self.restore(name, t)?;
        }
        opt.set_step_count(steps);
        opt.set_lr(lr);
        dev.set_rng_state(rng);
        Ok(step)
    }
}
