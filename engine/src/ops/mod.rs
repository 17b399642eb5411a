//! The ops, one file per family, each launching the kernels of the `.wgsl` file of the same
//! name in `shaders/`, with every op's backward rule written beside its forward.

pub mod attention;
mod binary;
pub mod conv;
mod conv_grad_weight;
mod conv_grad_weight_rows;
mod fill;
mod group_norm;
mod layout;
mod linear;
mod loss;
mod matmul;
mod matmul_texture;
mod norm;
pub mod random;
mod reduce;
pub mod roofline;
mod softmax;
mod unary;
mod upsample;

pub use unary::Activation;
