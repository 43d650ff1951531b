//! What safe code must not be able to write, checked by compiling it
//! (trybuild): each file in `tests/compile-fail/` must fail to compile with
//! the error recorded next to it (`.stderr`; regenerate with
//! `TRYBUILD=overwrite` after a compiler upgrade changes the wording).

/// Unguarded G stacks turn an overflow into silent memory corruption, so
/// only `unsafe` code may ask for them: not through the guard policy, not
/// through the `Config` field, not through the builder without `unsafe`.
#[test]
fn unguarded_stacks_need_unsafe() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile-fail/unguarded_*.rs");
}
