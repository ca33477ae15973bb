//! `weir:plugin/frames` (the render world): a frame's progress.

use wasmtime::component::{HasSelf, Linker};

use crate::runtime::bindings::render::weir::plugin::frames;
use crate::runtime::state::InstanceState;

/// Adds the render world's own import, `frames`, to the shared linker.
pub(crate) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    frames::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

impl frames::Host for InstanceState {
    async fn report_progress(&mut self, fraction: f32) {
        let hook = self.render.as_ref().and_then(|h| h.on_progress.as_ref());
        if let Some(on_progress) = hook
            && !fraction.is_nan()
        {
            on_progress(fraction.clamp(0.0, 1.0));
        }
    }
}
