//! Why a component could not be loaded or an instance not started.

/// Why a component could not be loaded or an instance not started.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The component does not validate or compile (the uploader's fault, 422).
    #[error("the component does not compile: {0}")]
    Compile(String),
    /// The component imports something weir does not provide (422).
    #[error("the component imports what weir does not provide: {0}")]
    Imports(String),
    /// The component needs more than an instance may have: more core instances, memories
    /// or tables than a pool slot, or more memory at start than its limit (422).
    #[error("the component does not fit: {0}")]
    TooLarge(String),
    /// The component exports neither a weir entry point nor `wasi:cli/run` (422).
    #[error(
        "the component exports neither `run` (the weir:plugin sequence world), `render` (the render world) nor `wasi:cli/run` (a WASI command)"
    )]
    NoEntryPoint,
    /// The engine could not be set up (500).
    #[error("the wasm engine could not start: {0}")]
    Engine(String),
    /// Reading the component or the cache failed (500).
    #[error("runtime storage failed: {0}")]
    Io(#[from] std::io::Error),
}

impl RuntimeError {
    /// Whether the component's author caused the error (4xx).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            RuntimeError::Compile(_)
                | RuntimeError::Imports(_)
                | RuntimeError::TooLarge(_)
                | RuntimeError::NoEntryPoint
        )
    }
}
