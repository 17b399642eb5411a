//! Networks and the generative-modelling toolkit, built on the `engine` crate.
//!
//! - [`nn`]: layers and networks (`Linear`, `Mlp`), each listing its parameters by name so
//!   optimizers and checkpoints can address them.
//! - [`dynamics`]: ODEs (`Ode`: a drift) and SDEs (`Sde`: drift and diffusion), with
//!   `LinearOde`, `BrownianMotion`, `OrnsteinUhlenbeck` and `Langevin`.
//! - [`path`]: conditional probability paths (Gaussian with schedules, linear); [`fields`]:
//!   MLP vector / score fields on [x, t] (and label-conditional); [`train`]: flow matching,
//!   denoising score matching and CFG losses with a small Adam loop; [`guidance`]: guided
//!   fields, score <-> velocity adapters, the Langevin-corrected flow SDE.
//! - [`datasets`]: labelled 2-D data of lab 2 (mixture, moons, circles, checkerboard);
//!   [`marginal`]: the exact marginal path of a Gaussian mixture (field, score, density);
//!   [`likelihood`]: log-likelihood under a flow (exact or Hutchinson divergence), energy distance.
//! - [`data`]: MNIST / Fashion-MNIST from IDX files (gzip or raw), `find_data_dir` to locate them.
//! - [`simulate`]: step schemes (`Euler`, `Heun`, `Rk4`, `EulerMaruyama`) and `simulate`
//!   over a time grid, optionally keeping the trajectory.
//! - [`density`]: `Density` (log density, score by autodiff) and `Sampleable`;
//!   [`gaussian`] and [`mixture`] implement both. [`linalg`] holds their small matrix helpers.
//! - [`fid`]: the Fréchet distance between two feature sets (mean, covariance, matrix square
//!   roots by Jacobi eigendecomposition in f64), chapter 6's measure of generated digits.

pub mod data;
pub mod datasets;
pub mod density;
pub mod dynamics;
pub mod fid;
pub mod fields;
pub mod gaussian;
pub mod guidance;
pub mod likelihood;
pub mod linalg;
pub mod marginal;
pub mod mixture;
pub mod nn;
pub mod path;
pub mod simulate;
pub mod train;

pub use datasets::{symmetric_mixture, Checkerboard, Circles, LabeledSampler, Moons};
pub use density::{Density, Sampleable};
pub use dynamics::{BrownianMotion, Langevin, LinearOde, Ode, OrnsteinUhlenbeck, Sde};
pub use fields::{ConditionalMlpField, FieldOde, MlpVectorField, VectorField, DEFAULT_HIDDEN};
pub use gaussian::Gaussian;
pub use guidance::{
    guided_field, GuidedField, LangevinFlowSde, ScoreFromVelocity, VelocityFromScore,
};
pub use likelihood::{energy_distance, field_and_divergence, log_likelihood, Divergence, Scheme};
pub use marginal::{relative_l2_error, MarginalScore, MixtureMarginal};
pub use mixture::GaussianMixture;
pub use path::{
    full_time, uniform_time, ConditionalPath, CosineAlpha, CosineBeta, GaussianPath, LinearAlpha,
    LinearBeta, LinearPath, Schedule, SqrtBeta,
};
pub use simulate::{
    simulate, simulate_with_trajectory, time_grid, Euler, EulerMaruyama, Heun, Rk4, Simulator,
};
pub use train::{
    cfg_flow_matching_loss, flow_matching_loss, score_matching_loss, train, Progress,
    ScoreWeighting, TrainReport,
};
