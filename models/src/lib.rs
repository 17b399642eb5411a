//! Networks and the generative-modelling toolkit, built on the `engine` crate.
//!
//! - [`nn`]: layers and networks (`Linear`, `Mlp`), each listing its parameters by name so
//!   optimizers and checkpoints can address them.

pub mod nn;
