//! Networks and the generative-modelling toolkit, built on the `engine` crate.
//!
//! - [`nn`]: layers and networks (`Linear`, `Mlp`), each listing its parameters by name so
//!   optimizers and checkpoints can address them.
//! - [`dynamics`]: ODEs (`Ode`: a drift) and SDEs (`Sde`: drift and diffusion), with
//!   `LinearOde`, `BrownianMotion`, `OrnsteinUhlenbeck` and `Langevin`.
//! - [`simulate`]: step schemes (`Euler`, `Heun`, `Rk4`, `EulerMaruyama`) and `simulate`
//!   over a time grid, optionally keeping the trajectory.
//! - [`density`]: `Density` (log density, score by autodiff) and `Sampleable`;
//!   [`gaussian`] and [`mixture`] implement both. [`linalg`] holds their small matrix helpers.

pub mod density;
pub mod dynamics;
pub mod gaussian;
pub mod linalg;
pub mod mixture;
pub mod nn;
pub mod simulate;

pub use density::{Density, Sampleable};
pub use dynamics::{BrownianMotion, Langevin, LinearOde, Ode, OrnsteinUhlenbeck, Sde};
pub use gaussian::Gaussian;
pub use mixture::GaussianMixture;
pub use simulate::{simulate, simulate_with_trajectory, time_grid, Euler, EulerMaruyama, Heun, Rk4, Simulator};
