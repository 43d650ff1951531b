//! What a task's panic says, for the join errors of both engines and of
//! compat. Their shapes differ (mn's is a public enum with a variant for a
//! G that got no stack, compat's adds a blocking job whose thread could not
//! start), so each keeps its own type; how a panic's payload reads
//! is written once, here.

use std::any::Any;
use std::fmt;

/// The message a panic's payload carries: what `panic!` was given, a
/// `&'static str` or a formatted `String`; `None` for any other payload
/// (`std::panic::panic_any`).
///
/// It takes the `Box` itself, as caught: a `&dyn Any` parameter would also
/// accept `&Box<dyn Any>`, coerced into an `Any` that is the box, and find
/// no message in it.
pub fn message(payload: &Box<dyn Any + Send>) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Writes how a task that panicked with `payload` ended, as every join
/// error's `Display` says it: `task panicked: MESSAGE`, or `task panicked`
/// for a payload without a message.
pub fn fmt_task_panicked(payload: &Box<dyn Any + Send>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match message(payload) {
        Some(m) => write!(f, "task panicked: {m}"),
        None => f.write_str("task panicked"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Shown(Box<dyn Any + Send>);

    impl fmt::Display for Shown {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt_task_panicked(&self.0, f)
        }
    }

    #[test]
    fn a_payload_reads_as_its_message() {
        let caught = |f: fn()| std::panic::catch_unwind(f).unwrap_err();
        let literal = caught(|| panic!("boom"));
        let formatted = caught(|| panic!("boom {}", 7));
        let other = caught(|| std::panic::panic_any(42u32));
        assert_eq!(message(&literal), Some("boom"));
        assert_eq!(message(&formatted), Some("boom 7"));
        assert_eq!(message(&other), None);
        assert_eq!(Shown(formatted).to_string(), "task panicked: boom 7");
        assert_eq!(Shown(other).to_string(), "task panicked");
    }
}
