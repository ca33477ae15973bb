//! Run a sequence function natively, in the plugin's own `cargo test`: an in-memory instance
//! with the input, config, args, events and topic data you give it, and everything the
//! sequence wrote, emitted, logged and published when it returns.
//!
//! ```
//! use weir_sdk::testing::Instance;
//! use weir_sdk::{Context, Result, serde_json::json};
//!
//! fn shout(ctx: &mut Context) -> Result<()> {
//!     let suffix = ctx.config()["suffix"].as_str().unwrap_or("!").to_owned();
//!     let link = ctx.link();
//!     ctx.map_lines(|line| {
//!         link.emit("seen", line)?;
//!         Ok(format!("{}{suffix}", line.to_uppercase()))
//!     })
//! }
//!
//! let ended = Instance::new()
//!     .input("hi\nho\n")
//!     .config(json!({ "suffix": "?" }))
//!     .run(shout);
//! assert_eq!(ended.result, Ok(()));
//! assert_eq!(ended.output_text(), "HI?\nHO?\n");
//! assert_eq!(ended.events[1].message, json!("ho"));
//! ```
//!
//! In a component these calls go to the hub; natively they go here. A host call made natively
//! outside [`Instance::run`] panics with a message saying so.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use serde_json::{Map, Value};

use crate::{Context, Event, Level, Result};

/// An instance to run a sequence function in, natively. Build it with what the hub would
/// give the sequence, then [`run`](Instance::run) the function.
#[derive(Debug, Clone)]
pub struct Instance {
    state: State,
}

/// What the sequence did, once its function returned (its output flushed).
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    /// What the function returned, as the hub would report it (`Err` with the reason).
    pub result: std::result::Result<(), String>,
    /// The bytes written to the output.
    pub output: Vec<u8>,
    /// The events emitted, in order.
    pub events: Vec<Event>,
    /// The log lines written, in order.
    pub log: Vec<(Level, String)>,
    /// The bytes published to each topic.
    pub published: HashMap<String, Vec<u8>>,
    /// The longest keep-alive asked for, in milliseconds.
    pub kept_alive_ms: Option<u64>,
}

impl Ended {
    /// The output as text (lossy UTF-8).
    pub fn output_text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }

    /// The output's lines parsed as JSON values (blank lines skipped).
    pub fn output_records(&self) -> std::result::Result<Vec<Value>, serde_json::Error> {
        self.output_text()
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(serde_json::from_str)
            .collect()
    }
}

#[derive(Debug, Clone)]
enum Queued {
    Event(Event),
    Stop {
        timeout_ms: u64,
        can_keep_alive: bool,
    },
}

#[derive(Debug, Clone)]
struct State {
    input: VecDeque<u8>,
    instance_id: String,
    config: Value,
    args: Vec<Value>,
    signals: VecDeque<Queued>,
    topic_data: HashMap<String, VecDeque<u8>>,
    subscribed: Vec<String>,
    output: Vec<u8>,
    events: Vec<Event>,
    log: Vec<(Level, String)>,
    published: HashMap<String, Vec<u8>>,
    kept_alive_ms: Option<u64>,
}

impl Default for Instance {
    fn default() -> Self {
        Instance::new()
    }
}

impl Instance {
    /// An instance with no input, `{}` as config, no args, and no events.
    pub fn new() -> Self {
        Instance {
            state: State {
                input: VecDeque::new(),
                instance_id: "00000000-0000-4000-8000-000000000000".to_string(),
                config: Value::Object(Map::new()),
                args: Vec::new(),
                signals: VecDeque::new(),
                topic_data: HashMap::new(),
                subscribed: Vec::new(),
                output: Vec::new(),
                events: Vec::new(),
                log: Vec::new(),
                published: HashMap::new(),
                kept_alive_ms: None,
            },
        }
    }

    /// Appends `data` to the input (which ends after the last byte given).
    pub fn input(mut self, data: impl AsRef<[u8]>) -> Self {
        self.state.input.extend(data.as_ref());
        self
    }

    /// The config (the package's `[config]` overlaid with `appConfig`, as one object).
    pub fn config(mut self, config: Value) -> Self {
        self.state.config = config;
        self
    }

    /// The start arguments.
    pub fn args(mut self, args: Vec<Value>) -> Self {
        self.state.args = args;
        self
    }

    /// The instance id (default: a fixed UUID).
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.state.instance_id = id.into();
        self
    }

    /// Queues an event for the sequence's `wait`s, after those queued before.
    pub fn event(mut self, name: impl Into<String>, message: Value) -> Self {
        self.state.signals.push_back(Queued::Event(Event {
            name: name.into(),
            message,
        }));
        self
    }

    /// Queues a stop request. A `wait` without a timeout when nothing is queued also gets one
    /// (with `can_keep_alive: false`), as when the hub stops the instance, so a sequence that
    /// waits for events ends instead of hanging the test.
    pub fn stop(mut self, timeout_ms: u64, can_keep_alive: bool) -> Self {
        self.state.signals.push_back(Queued::Stop {
            timeout_ms,
            can_keep_alive,
        });
        self
    }

    /// Data a subscriber of `topic` reads; the topic then ends (as when it is deleted).
    pub fn topic(mut self, topic: impl Into<String>, data: impl AsRef<[u8]>) -> Self {
        self.state
            .topic_data
            .entry(topic.into())
            .or_default()
            .extend(data.as_ref());
        self
    }

    /// Runs `sequence` on this thread until it returns, then flushes its output, as the hub
    /// does.
    pub fn run(self, sequence: fn(&mut Context) -> Result<()>) -> Ended {
        let previous = STATE.with(|s| s.borrow_mut().replace(self.state));
        let result = crate::__private::run(sequence);
        let state = STATE.with(|s| std::mem::replace(&mut *s.borrow_mut(), previous));
        let state = state.unwrap_or_else(|| Instance::new().state);
        Ended {
            result,
            output: state.output,
            events: state.events,
            log: state.log,
            published: state.published,
            kept_alive_ms: state.kept_alive_ms,
        }
    }
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// The host calls, natively: what `Instance::run` set up on this thread.
pub(crate) mod host {
    use super::{Queued, STATE, State};
    use crate::__private::bindings::weir::plugin::io::WriteError;
    use crate::__private::bindings::weir::plugin::types::{self, LogLevel, Signal};
    use crate::Level;

    fn with<T>(f: impl FnOnce(&mut State) -> T) -> T {
        STATE.with(|state| {
            let mut state = state.borrow_mut();
            let state = state.as_mut().unwrap_or_else(|| {
                panic!(
                    "a weir host call outside weir: natively, run the sequence with weir_sdk::testing::Instance"
                )
            });
            f(state)
        })
    }

    fn take(queue: &mut std::collections::VecDeque<u8>, max_len: u32) -> Option<Vec<u8>> {
        if queue.is_empty() {
            return None;
        }
        let n = queue.len().min(max_len.max(1) as usize);
        Some(queue.drain(..n).collect())
    }

    pub(crate) fn read_input(max_len: u32) -> Option<Vec<u8>> {
        with(|s| take(&mut s.input, max_len))
    }

    pub(crate) fn write_output(data: &[u8]) -> Result<(), WriteError> {
        with(|s| s.output.extend_from_slice(data));
        Ok(())
    }

    pub(crate) fn emit(name: &str, message: &str) {
        let message = serde_json::from_str(message).unwrap_or(serde_json::Value::Null);
        with(|s| {
            s.events.push(crate::Event {
                name: name.to_string(),
                message,
            })
        });
    }

    pub(crate) fn wait(timeout_ms: Option<u64>) -> Option<Signal> {
        with(|s| match s.signals.pop_front() {
            Some(Queued::Event(event)) => Some(Signal::Event(types::Event {
                name: event.name,
                message: event.message.to_string(),
            })),
            Some(Queued::Stop {
                timeout_ms,
                can_keep_alive,
            }) => Some(Signal::Stop(types::StopRequest {
                timeout_ms,
                can_keep_alive,
            })),
            None if timeout_ms.is_some() => None,
            None => Some(Signal::Stop(types::StopRequest {
                timeout_ms: 0,
                can_keep_alive: false,
            })),
        })
    }

    pub(crate) fn keep_alive(ms: u64) {
        with(|s| s.kept_alive_ms = Some(s.kept_alive_ms.map_or(ms, |k| k.max(ms))));
    }

    pub(crate) fn config() -> String {
        with(|s| s.config.to_string())
    }

    pub(crate) fn args() -> String {
        with(|s| serde_json::Value::Array(s.args.clone()).to_string())
    }

    pub(crate) fn instance_id() -> String {
        with(|s| s.instance_id.clone())
    }

    pub(crate) fn log(level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Trace => Level::Trace,
            LogLevel::Debug => Level::Debug,
            LogLevel::Info => Level::Info,
            LogLevel::Warn => Level::Warn,
            LogLevel::Error => Level::Error,
        };
        with(|s| s.log.push((level, message.to_string())));
    }

    pub(crate) fn publish(topic: &str, data: &[u8]) -> Result<(), String> {
        with(|s| {
            s.published
                .entry(topic.to_string())
                .or_default()
                .extend_from_slice(data)
        });
        Ok(())
    }

    pub(crate) fn subscribe(topic: &str) -> Result<(), String> {
        with(|s| {
            if !s.subscribed.iter().any(|t| t == topic) {
                s.subscribed.push(topic.to_string());
            }
        });
        Ok(())
    }

    pub(crate) fn read(topic: &str, max_len: u32) -> Option<Vec<u8>> {
        with(|s| {
            if !s.subscribed.iter().any(|t| t == topic) {
                return None;
            }
            take(s.topic_data.get_mut(topic)?, max_len)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, Write};
    use std::time::Duration;

    use serde_json::json;

    use super::Instance;
    use crate::{Context, Level, Result, Signal, topic};

    fn relay(ctx: &mut Context) -> Result<()> {
        let from = ctx.config()["from"].as_str().unwrap_or("in").to_owned();
        for line in topic::subscribe(&from)?.lines() {
            topic::publish_record("out", &json!({ "got": line? }))?;
        }
        ctx.info("relayed");
        Ok(())
    }

    #[test]
    fn topics_config_and_log_are_in_memory() {
        let ended = Instance::new()
            .config(json!({ "from": "orders" }))
            .topic("orders", "a\nb\n")
            .run(relay);
        assert_eq!(ended.result, Ok(()));
        assert_eq!(
            String::from_utf8(ended.published["out"].clone()).unwrap(),
            "{\"got\":\"a\"}\n{\"got\":\"b\"}\n"
        );
        assert_eq!(ended.log, [(Level::Info, "relayed".to_string())]);
    }

    fn answer(ctx: &mut Context) -> Result<()> {
        while let Some(Signal::Event(event)) = ctx.wait(None) {
            ctx.emit("pong", &event.message)?;
        }
        ctx.keep_alive(Duration::from_millis(250));
        let args = ctx.args().len();
        writeln!(ctx.output(), "{args}")?;
        Ok(())
    }

    #[test]
    fn queued_events_reach_wait_and_an_empty_queue_stops() {
        let ended = Instance::new()
            .args(vec![json!(1), json!("two")])
            .event("ping", json!({ "n": 1 }))
            .event("ping", json!(2))
            .run(answer);
        assert_eq!(ended.result, Ok(()));
        let pongs: Vec<_> = ended.events.iter().map(|e| e.message.clone()).collect();
        assert_eq!(pongs, [json!({ "n": 1 }), json!(2)]);
        assert_eq!(ended.output_text(), "2\n");
        assert_eq!(ended.kept_alive_ms, Some(250));
    }

    fn fails_on_bad_records(ctx: &mut Context) -> Result<()> {
        ctx.map_records(|record: serde_json::Value| Ok(json!({ "seen": record })))
    }

    #[test]
    fn an_error_is_the_reason_and_earlier_output_is_kept() {
        let ended = Instance::new()
            .input("{\"a\":1}\nnot json\n")
            .run(fails_on_bad_records);
        let reason = ended.result.clone().unwrap_err();
        assert!(reason.contains("line 2"), "{reason}");
        assert_eq!(
            ended.output_records().unwrap(),
            [json!({ "seen": { "a": 1 } })]
        );
    }

    #[test]
    fn a_host_call_outside_an_instance_says_what_to_do() {
        let panic = std::panic::catch_unwind(crate::host::config).unwrap_err();
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        assert!(message.contains("weir_sdk::testing::Instance"), "{message}");
    }
}
