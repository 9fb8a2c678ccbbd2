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
    // The CUDA build loads NVIDIA's libraries when first used (scripts/setup_cuda.sh builds it
    // with cudarc's dynamic loading), so it starts on any machine; cudarc panics when one is
    // missing, so they are looked for first.
    #[cfg(feature = "cuda")]
    {
        let missing = missing_cuda_libraries();
        if missing.first() == Some(&"cuda") {
            return Err("CUDA build, no NVIDIA GPU found — using the CPU".to_owned());
        }
        if !missing.is_empty() {
            return Err(format!(
                "CUDA build, the NVIDIA driver is there but not the CUDA 13 libraries ({}) — using the CPU",
                missing.join(", ")
            ));
        }
    }
    Device::new_cuda(0)
        .map_err(|e| format!("CUDA build, no usable NVIDIA GPU ({e}) — using the CPU"))
}

/// NVIDIA libraries candle needs that cannot be loaded, by short name (`cuda` is the driver).
#[cfg(feature = "cuda")]
fn missing_cuda_libraries() -> Vec<&'static str> {
    let loads = |names: &[String]| {
        names.iter().any(|n| {
            // SAFETY: loading NVIDIA's own libraries, whose initialisers are safe to run; the
            // handle is dropped at once (cudarc loads them again when used).
            unsafe { libloading::Library::new(n) }.is_ok()
        })
    };
    ["cuda", "cublas", "cublasLt", "curand", "nvrtc"]
        .into_iter()
        .filter(|lib| {
            let names: Vec<String> = if cfg!(windows) {
                let base = if *lib == "cuda" { "nvcuda" } else { lib };
                [
                    format!("{base}.dll"),
                    format!("{base}64_13.dll"),
                    format!("{base}64_130_0.dll"),
                    format!("{base}64_10.dll"),
                ]
                .into()
            } else {
                ["", ".1", ".13", ".10", ".12"]
                    .iter()
                    .map(|v| format!("lib{lib}.so{v}"))
                    .collect()
            };
            !loads(&names)
        })
        .collect()
}

fn try_metal() -> Result<Device, String> {
    if !cfg!(feature = "metal") {
        return Err("this build has no Metal support".to_owned());
    }
    Device::new_metal(0).map_err(|e| format!("no usable Metal GPU ({e})"))
}

/// Sets up CPU threading once, at the start of the process, before any other thread exists:
/// - one rayon pool with a worker per physical core (the fused kernels, candle's matrix products
///   and data preparation all share it, so nothing is oversubscribed; `RAYON_NUM_THREADS`
///   overrides);
/// - candle's element-wise pool parks its workers at once instead of spinning 25,000 times after
///   every operation: on a two-core laptop that spinning took a core away from the training
///   kernels (W2 batch 64: 2,267 → 3,173 samples/s in BENCHMARKS.md). `CANDLE_BARRIER_POOL_SPIN_LIMIT`
///   overrides.
pub fn configure_cpu() {
    const SPIN: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";
    if std::env::var_os(SPIN).is_none() {
        // Called first thing in `main`, while the process has a single thread.
        std::env::set_var(SPIN, "0");
    }
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(num_cpus::get_physical)
        .max(1);
    flush_denormals();
    // Fails only when the pool already exists (e.g. a second call), which is fine.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(|_| flush_denormals())
        .build_global();
}

/// Makes this thread's floating-point arithmetic treat numbers below f32's normal range
/// (|x| < 1.2·10⁻³⁸) as zero, in and out (x86: MXCSR's flush-to-zero and denormals-are-zero;
/// ARM: FPCR's flush-to-zero). Such numbers take a slow path in the CPU, tens of times slower
/// per operation: Adam's moments of weights that stop receiving gradients (a ReLU unit that no
/// longer fires) shrink by a constant factor every step until they reach that range, and a run
/// then slowed from 300 to 70 samples/s after ~800 steps (BENCHMARKS.md §17). Values that small
/// change no result: a weight update they make is below 10⁻²³. Called by `configure_cpu` (the
/// main thread and the rayon workers) and by each thread that trains.
pub fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    {
        const FLUSH_TO_ZERO: u32 = 1 << 15;
        const DENORMALS_ARE_ZERO: u32 = 1 << 6;
        let mut csr = 0u32;
        // SAFETY: reads and writes this thread's SSE control register through a local; the
        // two bits set change only how results below f32's normal range round.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &raw mut csr, options(nostack, preserves_flags));
            csr |= FLUSH_TO_ZERO | DENORMALS_ARE_ZERO;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &raw const csr, options(nostack, readonly));
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        const FLUSH_TO_ZERO: u64 = 1 << 24;
        let mut fpcr: u64;
        // SAFETY: reads and writes this thread's floating-point control register; the bit set
        // changes only how results below the normal range round.
        unsafe {
            std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags));
            fpcr |= FLUSH_TO_ZERO;
            std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack));
        }
    }
}

#[cfg(test)]
mod tests {
    /// A product below f32's normal range is kept as a subnormal number by default and is zero
    /// once the thread flushes them; a subnormal input then counts as zero too.
    #[test]
    fn flushed_threads_treat_subnormal_numbers_as_zero() {
        std::thread::spawn(|| {
            let tiny = |a: f32, b: f32| std::hint::black_box(a) * std::hint::black_box(b);
            let subnormal = tiny(1e-30, 1e-10);
            assert!(subnormal > 0.0 && !subnormal.is_normal());
            super::flush_denormals();
            assert_eq!(tiny(1e-30, 1e-10), 0.0);
            assert_eq!(tiny(subnormal, 1.0), 0.0);
            assert_eq!(tiny(1e-20, 1e-10), 1e-30, "normal numbers are untouched");
        })
        .join()
        .unwrap();
    }
}
