//! `harness`: a CI compatibility test harness for container images.
//!
//! Data flows one way: [`config`] (matrix and scenario YAML) -> [`run`] (the runner) ->
//! [`runtime`] / [`oci`] / [`craft`] -> [`report`]. The runner and the step kinds ([`steps`],
//! each of which owns its YAML form and its runtime call) are the only modules that know both
//! scenarios and runtimes.

pub mod build;
pub mod config;
pub mod craft;
pub mod fuzzing;
pub mod oci;
pub mod reference;
pub mod report;
pub mod results;
pub mod run;
pub mod runtime;
pub mod steps;
pub mod verify;
