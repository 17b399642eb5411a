//! The ops, one file per family, each launching the kernels of the `.wgsl` file of the same
//! name in `shaders/`, with every op's backward rule written beside its forward.

mod attention;
mod binary;
pub mod conv;
mod fill;
mod layout;
mod loss;
mod matmul;
mod norm;
pub mod random;
mod reduce;
pub mod roofline;
mod softmax;
mod unary;
mod upsample;
