//! Layers and networks. A network is a plain struct of tensors; `params` lists them by name
//! ("layers.0.weight"), which is what optimizers and checkpoints use.

mod linear;
mod mlp;

pub use linear::Linear;
pub use mlp::{Activation, Mlp};
mod fourier;
pub mod unet;

pub use fourier::FourierEncoder;
pub use unet::{NormKind, UNet, UNetConfig};
