//! What a trapped guest said: the trap's own words, and the panic message
//! a Rust guest printed on stderr before it trapped (the reason an instance
//! or a render frame ends with).

use std::collections::VecDeque;

/// The trap's own words without wasmtime's backtrace noise.
pub(super) fn trap_message(e: &wasmtime::Error) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        if *trap == wasmtime::Trap::StackOverflow {
            return format!("stack overflow: {trap}");
        }
        return trap.to_string();
    }
    format!("{e:#}")
        .lines()
        .next()
        .unwrap_or("unknown error")
        .to_string()
}

/// The panic a Rust guest printed before it trapped:
/// `panicked at src/lib.rs:10:5: the message`.
pub(super) fn panic_message(stderr: &VecDeque<String>) -> Option<String> {
    let at = stderr
        .iter()
        .rposition(|line| line.contains("panicked at "))?;
    let location = stderr[at]
        .split_once("panicked at ")?
        .1
        .trim_end_matches(':');
    let message = stderr
        .iter()
        .skip(at + 1)
        .take_while(|line| !line.starts_with("note: "))
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    Some(format!("panicked at {location}: {}", message.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rust_panic_on_stderr_explains_the_trap() {
        let stderr: VecDeque<String> = [
            "",
            "thread '<unnamed>' panicked at src/lib.rs:41:9:",
            "frame 3 traps on purpose",
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            panic_message(&stderr).as_deref(),
            Some("panicked at src/lib.rs:41:9: frame 3 traps on purpose")
        );
        assert_eq!(panic_message(&VecDeque::new()), None);
    }
}
