//! Errors the engine returns (rather than panics) because the caller can act on them:
//! no adapter, a lost device, out-of-memory, and checkpoint files.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// wgpu found no adapter at all, or none matching the requested name.
    NoAdapter(String),
    /// The adapter refused to create a device.
    RequestDevice(String),
    /// The GPU reported an error (device lost, out of memory, validation).
    Gpu(String),
    /// A checkpoint could not be written or read.
    Checkpoint(String),
    /// Any other I/O error, with the path involved.
    Io(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoAdapter(m) => write!(f, "no GPU adapter: {m}"),
            Error::RequestDevice(m) => write!(f, "could not open the GPU device: {m}"),
            Error::Gpu(m) => write!(f, "GPU error: {m}"),
            Error::Checkpoint(m) => write!(f, "checkpoint: {m}"),
            Error::Io(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
