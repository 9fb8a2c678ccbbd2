//! Models that leave Strata: the ONNX file ([`onnx`]) and its check against a second engine
//! ([`check`]), and PyTorch code ([`pytorch`]).

pub mod check;
pub mod onnx;
pub mod pytorch;

pub use check::CheckReport;
pub use onnx::OnnxError;
