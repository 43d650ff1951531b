//! Running one test body in every mode, for your own tests.
//!
//! [`test_all_modes!`](crate::test_all_modes) turns each `async fn` into a
//! module with one `#[test]` per configuration in [`MODES`] (single, mn with
//! one processor, mn with four), so a test checks that code behaves the
//! same under both models. Runtimes are built with
//! [`Builder::ignore_env`](crate::Builder::ignore_env): a test's outcome does
//! not depend on the caller's `RUNTIME_*` variables. [`block_on`] runs one
//! future in one configuration.

use std::future::Future;

use crate::{Builder, Mode};

/// Every engine configuration the test macro runs, as (mode, procs).
///
/// Single mode, mn with one P (Go's model on one core: Gs interleave, as
/// in single mode, but each has its own stack and Ms may still block) and mn
/// with four Ps (real parallelism, stealing, tasks moving between threads).
/// In a build without the `mn` feature, single mode alone.
#[cfg(feature = "mn")]
pub const MODES: &[(Mode, usize)] = &[(Mode::Single, 1), (Mode::Mn, 1), (Mode::Mn, 4)];
/// Every engine configuration the test macro runs: single mode alone in
/// this build (its `mn` feature is off).
#[cfg(not(feature = "mn"))]
pub const MODES: &[(Mode, usize)] = &[(Mode::Single, 1)];

/// A builder for one entry of [`MODES`], independent of the environment.
pub fn builder(mode: Mode, procs: usize) -> Builder {
    Builder::new().ignore_env().mode(mode).procs(procs)
}

/// Runs `future` on a fresh runtime of the given mode, independent of the
/// environment.
///
/// ```
/// # extern crate compat as switchyard;
/// use switchyard::{testing, Mode};
///
/// let procs = testing::block_on(Mode::Mn, 2, async {
///     switchyard::stats().unwrap().procs
/// });
/// assert_eq!(procs, 2);
/// ```
///
/// # Panics
/// If the runtime cannot be built, or if the future panics.
#[track_caller]
pub fn block_on<F: Future>(mode: Mode, procs: usize, future: F) -> F::Output {
    builder(mode, procs)
        .build()
        .unwrap_or_else(|e| panic!("switchyard test runtime ({mode}, {procs} procs): {e}"))
        .block_on(future)
}

/// Defines one `#[test]` per engine configuration for each `async fn`:
///
/// ```
/// # extern crate compat as switchyard;
/// switchyard::test_all_modes! {
///     async fn spawn_returns_its_output() {
///         let h = switchyard::spawn(async { 6 * 7 });
///         assert_eq!(h.await.unwrap(), 42);
///     }
/// }
/// # fn main() {}
/// ```
///
/// expands to `mod spawn_returns_its_output { #[test] fn single() …
/// #[test] fn mn_1p() … #[test] fn mn_4p() … }` (in a build without the
/// `mn` feature, `single` alone).
#[cfg(feature = "mn")]
#[macro_export]
macro_rules! test_all_modes {
    ($($(#[$meta:meta])* async fn $name:ident() $(-> $ret:ty)? $body:block)*) => {$(
        #[allow(non_snake_case)]
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$meta])*
            #[test]
            fn single() $(-> $ret)? {
                $crate::testing::block_on($crate::Mode::Single, 1, async move $body)
            }

            $(#[$meta])*
            #[test]
            fn mn_1p() $(-> $ret)? {
                $crate::testing::block_on($crate::Mode::Mn, 1, async move $body)
            }

            $(#[$meta])*
            #[test]
            fn mn_4p() $(-> $ret)? {
                $crate::testing::block_on($crate::Mode::Mn, 4, async move $body)
            }
        }
    )*};
}

/// Defines one `#[test]` per engine configuration for each `async fn`:
/// in this build (without the `mn` feature), `mod name { #[test] fn
/// single() … }`.
#[cfg(not(feature = "mn"))]
#[macro_export]
macro_rules! test_all_modes {
    ($($(#[$meta:meta])* async fn $name:ident() $(-> $ret:ty)? $body:block)*) => {$(
        #[allow(non_snake_case)]
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$meta])*
            #[test]
            fn single() $(-> $ret)? {
                $crate::testing::block_on($crate::Mode::Single, 1, async move $body)
            }
        }
    )*};
}
