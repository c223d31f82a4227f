//! Whether the hot loops of training and prediction run their AVX
//! versions.
//!
//! Each such loop is written once, as plain Rust that the compiler
//! vectorises, and compiled twice: for any x86-64 CPU (four lanes) and, in
//! a `#[target_feature(enable = "avx")]` copy, eight lanes wide. Lanes
//! only widen: every element still gets the same multiply and add (never
//! a fused multiply-add), in the same order, so both copies compute
//! bit-identical numbers and a model trains and predicts the same on every
//! CPU. The AVX copy runs when the CPU has AVX (detected once, then
//! cached by the standard library).

#[cfg(test)]
use std::cell::Cell;

#[cfg(test)]
thread_local! {
    /// Set by [`portable`]: this thread runs the portable loops only.
    static PORTABLE_ONLY: Cell<bool> = const { Cell::new(false) };
}

/// Whether to run the AVX versions: only on an x86-64 CPU with AVX.
#[inline]
pub(super) fn avx() -> bool {
    #[cfg(test)]
    if PORTABLE_ONLY.with(Cell::get) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Runs `f` with this thread on the portable loops only (for tests that
/// compare the two versions; threads `f` starts are not affected).
#[cfg(test)]
pub(super) fn portable<T>(f: impl FnOnce() -> T) -> T {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            PORTABLE_ONLY.with(|p| p.set(false));
        }
    }
    PORTABLE_ONLY.with(|p| p.set(true));
    let _restore = Restore;
    f()
}
