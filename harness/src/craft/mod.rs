//! Fixture specs -> byte-exact, deterministic image archives.

mod spec;

pub use spec::{FileSpec, FixtureSpec, ImageConfigSpec, LayerSpec, LayoutKind};
