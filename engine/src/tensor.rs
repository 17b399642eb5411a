//! The tensor: an f32, contiguous, row-major N-D array in a GPU buffer, with its place in the
//! autodiff graph. Cloning a `Tensor` clones a handle, not the data.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::autograd::Node;
use crate::device::{Device, Storage};
use crate::shape;

#[derive(Clone)]
pub struct Tensor(pub(crate) Rc<Inner>);

pub(crate) struct Inner {
    id: u64,
    shape: Vec<usize>,
    storage: Rc<Storage>,
    device: Device,
    pub requires_grad: Cell<bool>,
    pub grad: RefCell<Option<Tensor>>,
    pub node: RefCell<Option<Node>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{:?}", self.shape())?;
        if let Some(op) = self.grad_fn() {
            write!(f, " grad_fn={op}")?;
        }
        Ok(())
    }
}

impl Tensor {
    fn wrap(device: &Device, shape: &[usize], storage: Rc<Storage>) -> Tensor {
        Tensor(Rc::new(Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            shape: shape.to_vec(),
            storage,
            device: device.clone(),
            requires_grad: Cell::new(false),
            grad: RefCell::new(None),
            node: RefCell::new(None),
        }))
    }

    /// A tensor whose contents are not yet written: every op allocates its output with this.
    pub(crate) fn uninit(device: &Device, shape: &[usize], op: &str) -> Tensor {
        let bytes = (shape::numel(shape) * 4) as u64;
        let storage = device
            .0
            .alloc(bytes, &|| format!("{op}: output of shape {shape:?}"));
        Tensor::wrap(device, shape, Rc::new(storage))
    }

    /// A new tensor of another shape over the same buffer (reshape, detach).
    pub(crate) fn alias(&self, shape: &[usize]) -> Tensor {
        Tensor::wrap(&self.0.device, shape, self.0.storage.clone())
    }

    /// Copies `data` (row-major) to the GPU. Panics if `data` does not fill `shape`.
    pub fn from_slice(device: &Device, data: &[f32], shape: &[usize]) -> Tensor {
        let n = shape::numel(shape);
        assert!(
            data.len() == n,
            "from_slice: {} values do not fill shape {shape:?} ({n} elements)",
            data.len()
        );
        let bytes = (n * 4) as u64;
        let storage = device
            .0
            .alloc_for_upload(bytes, &|| format!("from_slice: tensor of shape {shape:?}"));
        let t = Tensor::wrap(device, shape, Rc::new(storage));
        device.0.write_fresh(t.buffer(), bytemuck::cast_slice(data));
        t
    }

    pub fn from_vec(device: &Device, data: Vec<f32>, shape: &[usize]) -> Tensor {
        Tensor::from_slice(device, &data, shape)
    }

    /// A tensor of one element.
    pub fn scalar(device: &Device, v: f32) -> Tensor {
        Tensor::from_slice(device, &[v], &[])
    }

    /// Reads the tensor back to the CPU (submits and waits for pending GPU work).
    pub fn to_vec(&self) -> Vec<f32> {
        if self.numel() == 0 {
            return Vec::new();
        }
        let bytes = self
            .device()
            .0
            .read(self.buffer(), (self.numel() * 4) as u64);
        let bytes = bytes
            .unwrap_or_else(|e| panic!("reading a tensor of shape {:?} back: {e}", self.shape()));
        bytemuck::pod_collect_to_vec(&bytes)
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> f32 {
        assert!(
            self.numel() == 1,
            "item: tensor of shape {:?} holds {} elements, not 1",
            self.shape(),
            self.numel()
        );
        self.to_vec()[0]
    }

    /// Overwrites the contents in place (loading checkpoints); keeps the graph untouched.
    pub fn copy_from_slice(&self, data: &[f32]) {
        assert!(
            data.len() == self.numel(),
            "copy_from_slice: {} values for a tensor of shape {:?}",
            data.len(),
            self.shape()
        );
        self.device()
            .0
            .write_live(self.buffer(), bytemuck::cast_slice(data));
    }

    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    pub fn rank(&self) -> usize {
        self.0.shape.len()
    }

    pub fn numel(&self) -> usize {
        shape::numel(&self.0.shape)
    }

    /// Size of one axis; negative axes count from the end.
    pub fn dim(&self, axis: isize) -> usize {
        self.0.shape[shape::axis("dim", axis, self.rank())]
    }

    pub fn device(&self) -> &Device {
        &self.0.device
    }

    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        self.0.storage.buffer()
    }

    pub(crate) fn id(&self) -> u64 {
        self.0.id
    }

    /// True for tensors no recorded op produced: inputs and parameters.
    pub fn is_leaf(&self) -> bool {
        self.0.node.borrow().is_none()
    }

    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad.get()
    }

    /// Marks a leaf as a parameter whose gradient `backward` fills. Returns `self` for chaining.
    pub fn set_requires_grad(self, on: bool) -> Tensor {
        assert!(
            self.is_leaf(),
            "set_requires_grad: only leaf tensors can be marked (this one came from {:?})",
            self.grad_fn()
        );
        self.0.requires_grad.set(on);
        self
    }

    /// The accumulated gradient, if backward reached this leaf.
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.borrow().clone()
    }

    pub fn set_grad(&self, g: Option<Tensor>) {
        *self.0.grad.borrow_mut() = g;
    }

    pub fn zero_grad(&self) {
        self.set_grad(None);
    }

    /// The same data, cut from the graph.
    pub fn detach(&self) -> Tensor {
        self.alias(self.shape())
    }

    /// True when both tensors read the same GPU buffer (reshape and detach share it).
    pub fn shares_buffer(&self, other: &Tensor) -> bool {
        Rc::ptr_eq(&self.0.storage, &other.0.storage)
    }

    pub(crate) fn same_device(&self, op: &str, other: &Tensor) {
        assert!(
            self.device().same(other.device()),
            "{op}: operands live on different devices"
        );
    }
}
