//! Models that leave Strata: the ONNX file ([`onnx`]) and its check against a second engine
//! ([`check`]).

pub mod check;
pub mod onnx;

pub use check::CheckReport;
pub use onnx::OnnxError;
