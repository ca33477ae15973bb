//! `weir:plugin/log`: the guest's log lines, to the instance log or a frame's hook.

use crate::runtime::bindings;
use crate::runtime::bindings::LogLevel;
use crate::runtime::state::{InstanceState, log_line};

impl bindings::weir::plugin::log::Host for InstanceState {
    async fn log(&mut self, level: LogLevel, message: String) {
        let level = match level {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        match &self.render {
            Some(hooks) => hooks.log(level, &message),
            None => {
                if let Some(console) = &self.console {
                    console(crate::runtime::console::ConsoleLine::Log {
                        level,
                        message: &message,
                    });
                }
                log_line(&self.log, level, "plugin", &message)
            }
        }
    }
}
