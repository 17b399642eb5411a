//! Image datasets read from disk: [`idx`] reads MNIST and Fashion-MNIST in their IDX form
//! (gzip-compressed or raw) and finds their folder.

pub mod idx;

pub use idx::{find_data_dir, load, resize_bilinear, DataError, Dataset, Mnist, Split};
