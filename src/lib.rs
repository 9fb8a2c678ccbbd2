//! Strata: a no-code deep-learning studio. The library holds the whole core (project file, data,
//! model graph, engine, evaluation) and the headless CLI; the desktop app sits behind the `gui`
//! feature.

pub mod audit;
pub mod build_info;
pub mod cli;
pub mod data;
pub mod engine;
pub mod eval;
pub mod explain;
pub mod export;
pub mod files;
pub mod fuzzing;
#[cfg(feature = "gui")]
pub mod gui;
pub mod layers;
pub mod model;
pub mod pretrained;
pub mod project;
pub(crate) mod simd;
pub mod tensor_file;
pub mod workflow;
