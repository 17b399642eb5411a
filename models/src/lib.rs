//! Networks and the generative toolkit (to be written).
