//! Oracles (placeholder, being written).
pub mod predict;
