//! Greets each input line: `X` becomes `Hello X!`.
//!
//! The smallest weir plugin: one annotated function and a line transform.

use weir_sdk::{Context, Result};

#[weir_sdk::sequence]
fn hello(ctx: &mut Context) -> Result<()> {
    ctx.map_lines(|name| Ok(format!("Hello {name}!")))
}

// Runs natively with `cargo test -p hello`, against an in-memory instance.
#[cfg(test)]
mod tests {
    use weir_sdk::testing::Instance;

    #[test]
    fn greets_each_line() {
        let ended = Instance::new().input("world\nweir\n").run(super::hello);
        assert_eq!(ended.result, Ok(()));
        assert_eq!(ended.output_text(), "Hello world!\nHello weir!\n");
    }
}
