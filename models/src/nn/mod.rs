//! Layers and networks. A network is a plain struct of tensors; `params` lists them by name
//! ("layers.0.weight"), which is what optimizers and checkpoints use.

mod conv;
mod linear;
mod mlp;

pub use conv::Conv2d;
pub use linear::Linear;
pub use mlp::{Activation, Mlp};
mod norm;

pub use norm::{BatchNorm2d, GroupNorm, NORM_EPS};
mod attention;

pub use attention::SelfAttention2d;
pub mod classifier;
pub use classifier::Classifier;
mod fourier;
pub mod unet;

pub use fourier::FourierEncoder;
pub use unet::{NormKind, UNet, UNetConfig};
