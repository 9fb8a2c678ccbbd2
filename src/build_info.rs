//! Facts about this build, recorded by `build.rs`: version, git commit, features, date.

/// Crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Short git commit, or "unknown" outside a git checkout.
pub const GIT_COMMIT: &str = env!("STRATA_GIT_COMMIT");
/// Enabled device features, e.g. "cpu" or "cpu+cuda".
pub const FEATURES: &str = env!("STRATA_FEATURES");
/// Build date (UTC, YYYY-MM-DD).
pub const BUILD_DATE: &str = env!("STRATA_BUILD_DATE");
/// The line `strata --version` prints after the program name.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("STRATA_GIT_COMMIT"),
    ", ",
    env!("STRATA_FEATURES"),
    ", built ",
    env!("STRATA_BUILD_DATE"),
    ")"
);
