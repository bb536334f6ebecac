//! `harness`: a CI compatibility test harness for container images.
//!
//! Data flows one way: [`config`] (matrix and scenario YAML) -> [`run`] (the runner) ->
//! [`runtime`] / [`oci`] / [`craft`] -> [`report`]. The runner is the only module that knows
//! both scenarios and runtimes.

pub mod config;
pub mod craft;
pub mod oci;
pub mod reference;
pub mod report;
pub mod run;
pub mod runtime;
pub mod verify;
