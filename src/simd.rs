//! Wider vector instructions for our own CPU loops, chosen at run time: the binary is built for
//! plain x86-64 (SSE2, four floats at a time), so a loop the compiler vectorizes would use a
//! quarter of an AVX-512 core. `vectorized!` compiles one kernel three times — for AVX-512,
//! for AVX2 with FMA, and plain — and calls the widest this CPU has (stable Rust; the check is
//! cached by the standard library). Matrix products need none of this: `gemm` chooses its own.

/// The widest vector instructions this CPU offers our kernels.
// Only x86-64 chooses between levels; elsewhere the plain build is used directly.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// AVX-512 (F, VL) with FMA: sixteen floats at a time.
    Avx512,
    /// AVX2 with FMA: eight floats at a time.
    Avx2,
    /// What every CPU of the target has (x86-64: SSE2; ARM64: NEON with fused multiply-add).
    Baseline,
}

/// This CPU's [`Level`]; `STRATA_SIMD=baseline` or `avx2` caps it (for measuring and tests).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub fn level() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = std::env::var("STRATA_SIMD").unwrap_or_default();
        detected(&cap)
    })
}

fn detected(cap: &str) -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        let fma = std::arch::is_x86_feature_detected!("fma");
        let avx2 = fma && std::arch::is_x86_feature_detected!("avx2");
        let avx512 = avx2
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl");
        match cap {
            "baseline" => Level::Baseline,
            _ if avx512 && cap != "avx2" => Level::Avx512,
            _ if avx2 => Level::Avx2,
            _ => Level::Baseline,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = cap;
        Level::Baseline
    }
}

/// Whether `f32::mul_add` is one instruction on the baseline target (ARM64), rather than a
/// library call.
pub const BASELINE_FMA: bool = cfg!(target_arch = "aarch64");

/// `a + b·c`, fused into one instruction where `FMA` says the target has it.
#[inline(always)]
pub fn fma<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        b.mul_add(c, a)
    } else {
        a + b * c
    }
}

/// Defines `fn $name(args) -> ret` calling `$kernel::<FMA>(args)` compiled for the CPU's
/// [`Level`]. `$kernel` must be `#[inline(always)]` (and so should what it calls) so that it is
/// compiled inside each variant with that variant's instructions.
macro_rules! vectorized {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $kernel:ident;) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn wide($($arg: $ty),*) $(-> $ret)? {
                    $kernel::<true>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn narrow($($arg: $ty),*) $(-> $ret)? {
                    $kernel::<true>($($arg),*)
                }
                match $crate::simd::level() {
                    // SAFETY: `level` reports AVX-512 only where the CPU has avx512f, avx512vl,
                    // avx2 and fma, the features `wide` is compiled for.
                    $crate::simd::Level::Avx512 => return unsafe { wide($($arg),*) },
                    // SAFETY: `level` reports AVX2 only where the CPU has avx2 and fma.
                    $crate::simd::Level::Avx2 => return unsafe { narrow($($arg),*) },
                    $crate::simd::Level::Baseline => {}
                }
            }
            $kernel::<{ $crate::simd::BASELINE_FMA }>($($arg),*)
        }
    };
}
pub(crate) use vectorized;

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(always)]
    fn scaled_sum<const FMA: bool>(values: &[f32], by: f32) -> f32 {
        values.iter().fold(0.0, |acc, v| fma::<FMA>(acc, *v, by))
    }

    vectorized! {
        fn scaled_sum_fast(values: &[f32], by: f32) -> f32 = scaled_sum;
    }

    #[test]
    fn every_level_computes_the_same() {
        let values: Vec<f32> = (0..100).map(|i| i as f32 * 0.5).collect();
        let expected: f32 = values.iter().map(|v| v * 2.0).sum();
        assert_eq!(scaled_sum_fast(&values, 2.0), expected);
        assert_eq!(scaled_sum::<false>(&values, 2.0), expected);
        assert_eq!(scaled_sum::<true>(&values, 2.0), expected);
        assert_eq!(detected("baseline"), Level::Baseline);
        if detected("") == Level::Avx512 {
            assert_eq!(detected("avx2"), Level::Avx2);
        }
    }
}
