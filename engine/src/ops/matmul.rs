//! matmul ops (to be written).
