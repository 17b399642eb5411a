//! CPU f64 reference (to be filled in).
