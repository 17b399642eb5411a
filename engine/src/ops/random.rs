//! random ops (to be written).
