//! softmax ops (to be written).
