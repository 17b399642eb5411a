//! A minimal GPU tensor library with reverse-mode autodiff, running WGSL compute kernels
//! through wgpu (Vulkan, Metal, DX12, or Mesa's lavapipe on the CPU).
//!
//! ```no_run
//! use engine::{Device, Tensor};
//! let dev = Device::new().expect("a GPU adapter");
//! let w = Tensor::randn(&dev, &[3, 2]).set_requires_grad(true);
//! let x = Tensor::from_slice(&dev, &[1.0, 2.0, 3.0], &[1, 3]);
//! let loss = x.matmul(&w).square().mean_all();
//! loss.backward();
//! println!("{:?}", w.grad().unwrap().to_vec());
//! ```

pub mod autograd;
pub mod checkpoint;
pub mod device;
pub mod error;
pub mod kernels;
pub mod ops;
pub mod optim;
mod options;
mod pool;
pub mod profile;
pub mod shape;
pub mod tensor;
mod texture_pool;

pub use autograd::{enable_grad, is_grad_enabled, no_grad};
pub use device::{Device, DeviceOptions, DeviceStats};
pub use error::{Error, Result};
pub use ops::Activation;
pub use tensor::Tensor;
/// The wgpu version the engine is built on, for `DeviceOptions::backends` and raw access.
pub use wgpu;
