//! Archive reading (placeholder, being written).
