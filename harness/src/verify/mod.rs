//! Oracles (placeholder, being written).
