//! `weir:plugin/context`: the instance id, config, args and input content type.

use crate::runtime::bindings;
use crate::runtime::state::InstanceState;

impl bindings::weir::plugin::context::Host for InstanceState {
    async fn instance_id(&mut self) -> String {
        self.instance_id.clone()
    }

    async fn config(&mut self) -> String {
        self.config.clone()
    }

    async fn args(&mut self) -> String {
        self.args.clone()
    }

    async fn input_content_type(&mut self) -> Option<String> {
        self.input_content_type.get().cloned()
    }
}
