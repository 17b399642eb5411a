//! Layout ops: reshape, squeeze, unsqueeze, flatten (no copy), and the strided copies behind
//! permute, transpose, broadcast_to, narrow, concat and index_select.
//! Kernels: shaders/layout.wgsl.
//!
//! Every copy is one of two kernels over an iteration shape S (rank <= 8): `layout_gather`
//! reads a strided view into a contiguous output of shape S; `layout_scatter` writes a
//! contiguous source of shape S into a strided window of a destination.
//! Legend for index_select: O = product of the axes before `axis`, V = its size,
//! N = number of indices, I = product of the axes after it.

use crate::device::Storage;
use crate::kernels::{Kernel, LAYOUT};
use crate::shape::{self, grid_1d, pack8};
use crate::tensor::Tensor;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    rank: u32,
    offset: u32,
    _pad: u32,
    shape: [u32; 8],
    strides: [u32; 8],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct IndexParams {
    n: u32,
    n_idx: u32,
    v: u32,
    inner: u32,
}

fn strided_params(op: &str, shape: &[usize], strides: &[usize], offset: usize) -> Params {
    let n = shape::numel(shape);
    Params {
        n: u32::try_from(n).unwrap_or_else(|_| panic!("{op}: {n} elements do not fit in 32 bits")),
        rank: shape.len() as u32,
        offset: offset as u32,
        _pad: 0,
        shape: pack8(op, shape),
        strides: pack8(op, strides),
    }
}

/// out (contiguous, `shape`) = x read at `offset + dot(index, strides)`; records nothing.
fn gather(op: &str, x: &Tensor, shape: &[usize], strides: &[usize], offset: usize) -> Tensor {
    let out = Tensor::uninit(x.device(), shape, op);
    let params = strided_params(op, shape, strides, offset);
    let kernel = Kernel::new(LAYOUT, "layout_gather");
    x.device().0.dispatch(
        &kernel,
        &[x.buffer(), out.buffer()],
        bytemuck::bytes_of(&params),
        grid_1d(out.numel(), 256),
    );
    out
}

/// dst at `offset + dot(index, strides)` = src (contiguous, its own shape); records nothing.
/// The window must lie inside dst and not overlap itself.
fn scatter(op: &str, src: &Tensor, dst: &Tensor, strides: &[usize], offset: usize) {
    let params = strided_params(op, src.shape(), strides, offset);
    let kernel = Kernel::new(LAYOUT, "layout_scatter");
    src.device().0.dispatch(
        &kernel,
        &[src.buffer(), dst.buffer()],
        bytemuck::bytes_of(&params),
        grid_1d(src.numel(), 256),
    );
}

/// A small GPU buffer of u32 values (indices, CSR lists), at least 4 bytes so it can be bound.
fn upload_u32(t: &Tensor, op: &str, data: &[u32]) -> Storage {
    let dev = &t.device().0;
    let storage = dev.alloc_for_upload((data.len().max(1) * 4) as u64, &|| {
        format!("{op}: {} indices", data.len())
    });
    if !data.is_empty() {
        dev.write_fresh(storage.buffer(), bytemuck::cast_slice(data));
    }
    storage
}

/// (O, V, I) of `shape` around `axis`.
fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape::numel(&shape[..axis]),
        shape[axis],
        shape::numel(&shape[axis + 1..]),
    )
}

/// dx (`in_shape`) of index_select: for each row v of the axis, the sum of the gradient rows
/// j with indices[j] == v, in increasing j (deterministic, no atomics).
fn index_select_grad(g: &Tensor, in_shape: &[usize], axis: usize, indices: &[u32]) -> Tensor {
    let (outer, v, inner) = split_at_axis(in_shape, axis);
    // CSR: offsets is [V + 1], positions is [N] grouped by target row v.
    let mut offsets = vec![0u32; v + 1];
    for &i in indices {
        offsets[i as usize + 1] += 1;
    }
    for r in 0..v {
        offsets[r + 1] += offsets[r];
    }
    let mut fill = offsets.clone();
    let mut positions = vec![0u32; indices.len()];
    for (j, &i) in indices.iter().enumerate() {
        positions[fill[i as usize] as usize] = j as u32;
        fill[i as usize] += 1;
    }
    let offsets_buf = upload_u32(g, "index_select backward", &offsets);
    let positions_buf = upload_u32(g, "index_select backward", &positions);
    let dx = Tensor::uninit(g.device(), in_shape, "index_select backward");
    let n = outer * v * inner;
    let params = IndexParams {
        n: n as u32,
        n_idx: indices.len() as u32,
        v: v as u32,
        inner: inner as u32,
    };
    g.device().0.dispatch(
        &Kernel::new(LAYOUT, "index_select_grad"),
        &[
            g.buffer(),
            offsets_buf.buffer(),
            positions_buf.buffer(),
            dx.buffer(),
        ],
        bytemuck::bytes_of(&params),
        grid_1d(n, 256),
    );
    // The index buffers return to the pool only after the batch that reads them is submitted.
    dx
}

impl Tensor {
    /// The same elements in another shape (no copy: shares the buffer).
    pub fn reshape(&self, new_shape: &[usize]) -> Tensor {
        assert!(
            shape::numel(new_shape) == self.numel(),
            "reshape: cannot view shape {:?} ({} elements) as {:?} ({} elements)",
            self.shape(),
            self.numel(),
            new_shape,
            shape::numel(new_shape)
        );
        let out = self.alias(new_shape);
        let old = self.shape().to_vec();
        out.record("reshape", &[self], move |g| vec![Some(g.reshape(&old))])
    }

    /// Inserts an axis of size 1 at `axis` (in -(rank+1)..=rank): [2,3].unsqueeze(1) is [2,1,3].
    pub fn unsqueeze(&self, axis: isize) -> Tensor {
        let r = self.rank() as isize;
        assert!(
            (-r - 1..=r).contains(&axis),
            "unsqueeze: axis {axis} out of range for a tensor of rank {r} (allowed: {}..={r})",
            -r - 1
        );
        let a = shape::axis("unsqueeze", axis, self.rank() + 1);
        let mut s = self.shape().to_vec();
        s.insert(a, 1);
        self.reshape(&s)
    }

    /// Removes `axis`, which must have size 1.
    pub fn squeeze(&self, axis: isize) -> Tensor {
        let a = shape::axis("squeeze", axis, self.rank());
        assert!(
            self.shape()[a] == 1,
            "squeeze: axis {axis} of shape {:?} has size {}, not 1",
            self.shape(),
            self.shape()[a]
        );
        let mut s = self.shape().to_vec();
        s.remove(a);
        self.reshape(&s)
    }

    /// All elements as a 1-D tensor.
    pub fn flatten(&self) -> Tensor {
        self.reshape(&[self.numel()])
    }

    /// Reorders the axes: output axis i is input axis dims[i]. [2,3,4].permute(&[2,0,1]) is [4,2,3].
    pub fn permute(&self, dims: &[usize]) -> Tensor {
        let r = self.rank();
        let mut seen = vec![false; r];
        let valid = dims.len() == r
            && dims
                .iter()
                .all(|&d| d < r && !std::mem::replace(&mut seen[d], true));
        assert!(
            valid,
            "permute: {dims:?} is not a permutation of the {r} axes of shape {:?}",
            self.shape()
        );
        if dims.iter().enumerate().all(|(i, &d)| i == d) {
            return self.reshape(self.shape());
        }
        let in_strides = shape::strides(self.shape());
        let out_shape: Vec<usize> = dims.iter().map(|&d| self.shape()[d]).collect();
        let strides: Vec<usize> = dims.iter().map(|&d| in_strides[d]).collect();
        let out = gather("permute", self, &out_shape, &strides, 0);
        // The inverse permutation puts each axis back: inv[dims[i]] = i.
        let mut inv = vec![0; r];
        for (i, &d) in dims.iter().enumerate() {
            inv[d] = i;
        }
        out.record("permute", &[self], move |g| vec![Some(g.permute(&inv))])
    }

    /// Swaps axes a and b (negative axes count from the end).
    pub fn transpose(&self, a: isize, b: isize) -> Tensor {
        let a = shape::axis("transpose", a, self.rank());
        let b = shape::axis("transpose", b, self.rank());
        let mut dims: Vec<usize> = (0..self.rank()).collect();
        dims.swap(a, b);
        self.permute(&dims)
    }

    /// Repeats the tensor along axes of size 1 and new leading axes to reach `shape` (NumPy
    /// rules). Backward: the gradient summed back to the input's shape.
    pub fn broadcast_to(&self, target: &[usize]) -> Tensor {
        let ok = target.len() >= self.rank()
            && shape::broadcast(self.shape(), target).as_deref() == Some(target);
        assert!(
            ok,
            "broadcast_to: shape {:?} cannot be broadcast to {target:?}",
            self.shape()
        );
        if self.shape() == target {
            return self.reshape(target);
        }
        let strides = shape::broadcast_strides(self.shape(), target);
        let out = gather("broadcast_to", self, target, &strides, 0);
        let in_shape = self.shape().to_vec();
        out.record("broadcast_to", &[self], move |g| {
            vec![Some(g.sum_to(&in_shape))]
        })
    }

    /// The slice start..start+len along `axis`, copied. Backward: zeros with g in the window.
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Tensor {
        let a = shape::axis("narrow", axis, self.rank());
        let size = self.shape()[a];
        assert!(
            start + len <= size,
            "narrow: start {start} + length {len} exceeds size {size} of axis {axis} of shape {:?}",
            self.shape()
        );
        let strides = shape::strides(self.shape());
        let mut out_shape = self.shape().to_vec();
        out_shape[a] = len;
        let out = gather("narrow", self, &out_shape, &strides, start * strides[a]);
        let in_shape = self.shape().to_vec();
        out.record("narrow", &[self], move |g| {
            let dx = Tensor::zeros(g.device(), &in_shape);
            scatter("narrow backward", g, &dx, &strides, start * strides[a]);
            vec![Some(dx)]
        })
    }

    /// Joins tensors along `axis`; all other axes must match. Backward: each input's slice of g.
    pub fn concat(tensors: &[&Tensor], axis: isize) -> Tensor {
        assert!(!tensors.is_empty(), "concat: no tensors given");
        let first = tensors[0];
        let a = shape::axis("concat", axis, first.rank());
        let shapes: Vec<&[usize]> = tensors.iter().map(|t| t.shape()).collect();
        let same_elsewhere = |s: &[usize]| {
            s.len() == first.rank()
                && s.iter()
                    .zip(first.shape())
                    .enumerate()
                    .all(|(d, (x, y))| d == a || x == y)
        };
        assert!(
            shapes.iter().all(|s| same_elsewhere(s)),
            "concat: shapes {shapes:?} differ outside axis {axis}"
        );
        for t in &tensors[1..] {
            first.same_device("concat", t);
        }
        let mut out_shape = first.shape().to_vec();
        out_shape[a] = shapes.iter().map(|s| s[a]).sum();
        let out = Tensor::uninit(first.device(), &out_shape, "concat");
        let strides = shape::strides(&out_shape);
        // starts[k]: where input k begins along the axis.
        let mut starts = Vec::with_capacity(tensors.len());
        let mut at = 0;
        for t in tensors {
            starts.push(at);
            scatter("concat", t, &out, &strides, at * strides[a]);
            at += t.shape()[a];
        }
        let parts: Vec<(bool, usize, usize)> = tensors
            .iter()
            .zip(&starts)
            .map(|(t, &s)| (t.requires_grad(), s, t.shape()[a]))
            .collect();
        out.record("concat", tensors, move |g| {
            parts
                .iter()
                .map(|&(needed, s, len)| needed.then(|| g.narrow(a as isize, s, len)))
                .collect()
        })
    }

    /// Picks entries along `axis` by index: a [V, D] table with axis 0 and N indices gives
    /// [N, D] (an embedding lookup). Indices may repeat; their gradients add up.
    pub fn index_select(&self, axis: isize, indices: &[u32]) -> Tensor {
        let a = shape::axis("index_select", axis, self.rank());
        let (outer, v, inner) = split_at_axis(self.shape(), a);
        if let Some(&bad) = indices.iter().find(|&&i| i as usize >= v) {
            panic!(
                "index_select: index {bad} out of range for axis {axis} of size {v} (shape {:?})",
                self.shape()
            );
        }
        let mut out_shape = self.shape().to_vec();
        out_shape[a] = indices.len();
        let out = Tensor::uninit(self.device(), &out_shape, "index_select");
        let idx = upload_u32(self, "index_select", indices);
        let n = outer * indices.len() * inner;
        let params = IndexParams {
            n: n as u32,
            n_idx: indices.len() as u32,
            v: v as u32,
            inner: inner as u32,
        };
        self.device().0.dispatch(
            &Kernel::new(LAYOUT, "index_select"),
            &[self.buffer(), idx.buffer(), out.buffer()],
            bytemuck::bytes_of(&params),
            grid_1d(n, 256),
        );
        let (in_shape, indices) = (self.shape().to_vec(), indices.to_vec());
        out.record("index_select", &[self], move |g| {
            vec![Some(index_select_grad(g, &in_shape, a, &indices))]
        })
    }
}
