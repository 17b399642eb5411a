//! Layout ops: reshape (no copy), and the strided copies behind permute, transpose,
//! broadcast_to, narrow, concat and index_select. Kernels: shaders/layout.wgsl.

use crate::shape;
use crate::tensor::Tensor;

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
}
