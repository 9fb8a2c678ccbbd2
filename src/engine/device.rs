//! Choosing the device to compute on, and saying which one and why.

use candle_core::Device;

use crate::project::DeviceChoice;

/// The chosen device and a sentence for the user, e.g. "CPU — this build has no CUDA support".
pub fn select_device(choice: DeviceChoice) -> (Device, String) {
    let threads = rayon::current_num_threads();
    let cpu = |why: &str| (Device::Cpu, format!("CPU ({threads} threads) — {why}"));
    match choice {
        DeviceChoice::Cpu => cpu("chosen in the settings"),
        DeviceChoice::Cuda => match try_cuda() {
            Ok(d) => (d, "CUDA GPU 0 — chosen in the settings".to_owned()),
            Err(why) => cpu(&why),
        },
        DeviceChoice::Metal => match try_metal() {
            Ok(d) => (d, "Metal GPU — chosen in the settings".to_owned()),
            Err(why) => cpu(&why),
        },
        DeviceChoice::Auto => match try_cuda() {
            Ok(d) => (d, "CUDA GPU 0 — the fastest device found".to_owned()),
            Err(cuda_why) => match try_metal() {
                Ok(d) => (d, "Metal GPU — the fastest device found".to_owned()),
                Err(metal_why) => {
                    if cfg!(feature = "cuda") {
                        cpu(&cuda_why)
                    } else if cfg!(feature = "metal") {
                        cpu(&metal_why)
                    } else {
                        cpu("this build has no GPU support")
                    }
                }
            },
        },
    }
}

fn try_cuda() -> Result<Device, String> {
    if !cfg!(feature = "cuda") {
        return Err("this build has no CUDA support".to_owned());
    }
    Device::new_cuda(0).map_err(|e| format!("no usable CUDA GPU ({e})"))
}

fn try_metal() -> Result<Device, String> {
    if !cfg!(feature = "metal") {
        return Err("this build has no Metal support".to_owned());
    }
    Device::new_metal(0).map_err(|e| format!("no usable Metal GPU ({e})"))
}
