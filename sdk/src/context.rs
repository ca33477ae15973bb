//! [`Context`]: everything a sequence can reach — streams, events, config, log.

use std::cell::OnceCell;
use std::fmt::Display;
use std::io::Write;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::__private::bindings::weir::plugin::types;
use crate::host;
use crate::io::{Input, Output};
use crate::{Error, Result, transform};

/// What a waiting sequence receives from the hub; see [`Context::wait`].
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// An event sent to the instance (`POST /instance/:id/_event`).
    Event(Event),
    /// The hub asks the instance to stop (`POST /instance/:id/_stop`).
    Stop {
        /// How long the instance has before the hub ends it.
        timeout: Duration,
        /// Whether [`Context::keep_alive`] may cancel the stop.
        can_keep_alive: bool,
    },
}

/// A named event with a JSON message.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event name, e.g. `test-event`.
    pub name: String,
    /// The message (`null` when the sender gave none).
    pub message: Value,
}

/// Severity of a log line; see [`Context::log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// Fine-grained diagnostics.
    Trace,
    /// Diagnostics for plugin authors.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the plugin handled.
    Warn,
    /// Something failed.
    Error,
}

/// The running instance, as its sequence function sees it.
///
/// The one `&mut Context` a `#[weir_sdk::sequence]` function receives gives it its input and
/// output streams, events, keep-alive, the config and args it was started with, and the
/// instance log.
///
/// ```no_run
/// use std::time::Duration;
/// use weir_sdk::{Context, Result, Signal};
///
/// #[weir_sdk::sequence]
/// fn run(ctx: &mut Context) -> Result<()> {
///     let every = ctx.config()["every_ms"].as_u64().unwrap_or(1000);
///     loop {
///         match ctx.wait(Some(Duration::from_millis(every))) {
///             None => ctx.emit("tick", &ctx.instance_id())?,
///             Some(Signal::Event(e)) => ctx.info(&format!("got {}", e.name)),
///             Some(Signal::Stop { .. }) => return Ok(()),
///         }
///     }
/// }
/// # fn main() {}
/// ```
pub struct Context {
    input: Input,
    output: Output,
    config: OnceCell<Value>,
    args: OnceCell<Vec<Value>>,
    instance_id: OnceCell<String>,
}

impl Context {
    pub(crate) fn new() -> Self {
        let output = Output::new();
        Self {
            input: Input::new().flushing(&output),
            output,
            config: OnceCell::new(),
            args: OnceCell::new(),
            instance_id: OnceCell::new(),
        }
    }

    /// The input stream.
    pub fn input(&mut self) -> &mut Input {
        &mut self.input
    }

    /// The output stream. Flushed when the sequence function returns.
    pub fn output(&mut self) -> &mut Output {
        &mut self.output
    }

    /// Both streams at once, to move data from one to the other.
    ///
    /// ```no_run
    /// # fn f(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()> {
    /// use std::io::{BufRead, Write};
    ///
    /// let (input, output) = ctx.io();
    /// loop {
    ///     let chunk = input.fill_buf()?;
    ///     if chunk.is_empty() {
    ///         return Ok(());
    ///     }
    ///     let n = chunk.len();
    ///     output.write_all(chunk)?;
    ///     input.consume(n);
    /// }
    /// # }
    /// ```
    pub fn io(&mut self) -> (&mut Input, &mut Output) {
        (&mut self.input, &mut self.output)
    }

    /// Writes `record` to the output as one line of compact JSON; see
    /// [`Output::write_record`].
    pub fn write_record<T: Serialize + ?Sized>(&mut self, record: &T) -> Result<()> {
        self.output.write_record(record)
    }

    /// Emits an event named `name` with `message` as its JSON message.
    ///
    /// ```no_run
    /// # fn f(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()> {
    /// ctx.emit("progress", &serde_json::json!({ "done": 10, "of": 20 }))?;
    /// ctx.emit("note", "a JSON string")?;
    /// # Ok(()) }
    /// ```
    pub fn emit<T: Serialize + ?Sized>(&self, name: &str, message: &T) -> Result<()> {
        self.link().emit(name, message)
    }

    /// A [`Link`] to the hub — events, keep-alive and the log — that borrows nothing, to
    /// emit and log while the input or output is borrowed.
    ///
    /// ```no_run
    /// # fn f(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()> {
    /// let link = ctx.link();
    /// for line in ctx.input().lines() {
    ///     link.emit("seen", &line?)?; // `ctx.emit` here would not compile (E0502)
    /// }
    /// # Ok(()) }
    /// ```
    pub fn link(&self) -> Link {
        Link { _private: () }
    }

    /// Waits for an event or a stop request, at most `timeout` (`None`: for ever).
    ///
    /// Returns `None` when the timeout passes first. A zero timeout polls without blocking;
    /// other timeouts are rounded up to whole milliseconds.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use weir_sdk::Signal;
    ///
    /// # fn f(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()> {
    /// match ctx.wait(Some(Duration::from_secs(5))) {
    ///     Some(Signal::Event(event)) => ctx.info(&format!("{}: {}", event.name, event.message)),
    ///     Some(Signal::Stop { can_keep_alive: true, .. }) => ctx.keep_alive(Duration::from_secs(60)),
    ///     Some(Signal::Stop { .. }) => return Ok(()),
    ///     None => ctx.debug("nothing happened"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn wait(&self, timeout: Option<Duration>) -> Option<Signal> {
        self.link().wait(timeout)
    }

    /// Waits for the next event; `None` once the hub asks the instance to stop.
    ///
    /// ```no_run
    /// # fn f(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()> {
    /// while let Some(event) = ctx.next_event() {
    ///     ctx.emit(&format!("{}-seen", event.name), &event.message)?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn next_event(&self) -> Option<Event> {
        self.link().next_event()
    }

    /// Asks the hub to keep the instance running for `duration` more; after a stop request
    /// that allows it, this cancels the stop.
    ///
    /// ```no_run
    /// # fn f(ctx: &mut weir_sdk::Context) {
    /// ctx.keep_alive(std::time::Duration::from_secs(30));
    /// # }
    /// ```
    pub fn keep_alive(&self, duration: Duration) {
        self.link().keep_alive(duration);
    }

    /// The configuration: the package's `[config]` defaults overlaid with the start
    /// request's `appConfig`. Always a JSON object, empty when there is none.
    ///
    /// ```no_run
    /// # fn f(ctx: &mut weir_sdk::Context) {
    /// let greeting = ctx.config()["greeting"].as_str().unwrap_or("Hello");
    /// # }
    /// ```
    pub fn config(&self) -> &Value {
        self.config
            .get_or_init(|| match serde_json::from_str(&host::config()) {
                Ok(config @ Value::Object(_)) => config,
                _ => Value::Object(Map::new()),
            })
    }

    /// The configuration as a `T`.
    ///
    /// ```no_run
    /// #[derive(serde::Deserialize)]
    /// struct Config {
    ///     #[serde(default = "default_limit")]
    ///     limit: usize,
    /// }
    /// fn default_limit() -> usize { 10 }
    ///
    /// # fn f(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()> {
    /// let config: Config = ctx.config_as()?;
    /// # Ok(()) }
    /// ```
    pub fn config_as<T: DeserializeOwned>(&self) -> Result<T> {
        crate::typed(self.config()).map_err(|e| Error::Message(format!("invalid config: {e}")))
    }

    /// The start arguments (`args` of the start request).
    ///
    /// ```no_run
    /// # fn f(ctx: &mut weir_sdk::Context) {
    /// let first = ctx.args().first().and_then(|a| a.as_str());
    /// # }
    /// ```
    pub fn args(&self) -> &[Value] {
        self.args
            .get_or_init(|| serde_json::from_str(&host::args()).unwrap_or_default())
    }

    /// The id the hub gave this instance.
    ///
    /// ```no_run
    /// # fn f(ctx: &mut weir_sdk::Context) {
    /// ctx.info(&format!("I am {}", ctx.instance_id()));
    /// # }
    /// ```
    pub fn instance_id(&self) -> &str {
        self.instance_id.get_or_init(host::instance_id)
    }

    /// Writes one line to the instance log (`GET /instance/:id/log`).
    ///
    /// ```no_run
    /// # fn f(ctx: &mut weir_sdk::Context) {
    /// use weir_sdk::Level;
    /// ctx.log(Level::Warn, "config has no `limit`, using 10");
    /// # }
    /// ```
    pub fn log(&self, level: Level, message: &str) {
        self.link().log(level, message);
    }

    /// Logs `message` at [`Level::Error`].
    pub fn error(&self, message: &str) {
        self.log(Level::Error, message);
    }

    /// Logs `message` at [`Level::Warn`].
    pub fn warn(&self, message: &str) {
        self.log(Level::Warn, message);
    }

    /// Logs `message` at [`Level::Info`].
    pub fn info(&self, message: &str) {
        self.log(Level::Info, message);
    }

    /// Logs `message` at [`Level::Debug`].
    pub fn debug(&self, message: &str) {
        self.log(Level::Debug, message);
    }

    /// Logs `message` at [`Level::Trace`].
    pub fn trace(&self, message: &str) {
        self.log(Level::Trace, message);
    }

    /// Writes `f(line)` for each input line; see [`transform::map_lines`].
    ///
    /// ```no_run
    /// # fn f(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()> {
    /// ctx.map_lines(|line| Ok(line.chars().rev().collect::<String>()))
    /// # }
    /// ```
    pub fn map_lines<F, S>(&mut self, f: F) -> Result<()>
    where
        F: FnMut(&str) -> Result<S>,
        S: Display,
    {
        transform::map_lines(&mut self.input, &mut self.output, f)
    }

    /// Copies the input lines for which `keep(line)` is true; see
    /// [`transform::filter_lines`].
    pub fn filter_lines<F>(&mut self, keep: F) -> Result<()>
    where
        F: FnMut(&str) -> bool,
    {
        transform::filter_lines(&mut self.input, &mut self.output, keep)
    }

    /// Writes each item of `f(line)` as a line; see [`transform::flat_map_lines`].
    pub fn flat_map_lines<F, I>(&mut self, f: F) -> Result<()>
    where
        F: FnMut(&str) -> Result<I>,
        I: IntoIterator,
        I::Item: Display,
    {
        transform::flat_map_lines(&mut self.input, &mut self.output, f)
    }

    /// Writes `f(record)` for each input record; see [`transform::map_records`].
    ///
    /// ```no_run
    /// use serde_json::Value;
    ///
    /// # fn f(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()> {
    /// ctx.map_records(|mut v: Value| {
    ///     v["seen"] = Value::Bool(true);
    ///     Ok(v)
    /// })
    /// # }
    /// ```
    pub fn map_records<T, U, F>(&mut self, f: F) -> Result<()>
    where
        T: DeserializeOwned,
        U: Serialize,
        F: FnMut(T) -> Result<U>,
    {
        transform::map_records(&mut self.input, &mut self.output, f)
    }

    /// Copies the input records for which `keep(&record)` is true; see
    /// [`transform::filter_records`].
    pub fn filter_records<T, F>(&mut self, keep: F) -> Result<()>
    where
        T: DeserializeOwned,
        F: FnMut(&T) -> bool,
    {
        transform::filter_records(&mut self.input, &mut self.output, keep)
    }

    /// Writes each item of `f(record)` as a record; see [`transform::flat_map_records`].
    pub fn flat_map_records<T, F, I>(&mut self, f: F) -> Result<()>
    where
        T: DeserializeOwned,
        F: FnMut(T) -> Result<I>,
        I: IntoIterator,
        I::Item: Serialize,
    {
        transform::flat_map_records(&mut self.input, &mut self.output, f)
    }

    /// Flushes the output; the sequence glue calls this when the function returns.
    pub(crate) fn finish(&mut self) -> std::io::Result<()> {
        self.output.flush()
    }
}

/// The instance's link to the hub: events, keep-alive and the log, as a value that borrows
/// nothing ([`Context::link`]). A sequence can hold its input and output and still emit,
/// wait and log through it; each method is the [`Context`] method of the same name.
///
/// ```no_run
/// use std::io::Write;
/// use weir_sdk::{Context, Result};
///
/// /// Copies its input and emits `progress` every 1,000 lines.
/// #[weir_sdk::sequence]
/// fn copy(ctx: &mut Context) -> Result<()> {
///     let link = ctx.link();
///     let (input, output) = ctx.io();
///     for (n, line) in input.lines().enumerate() {
///         writeln!(output, "{}", line?)?;
///         if (n + 1) % 1000 == 0 {
///             link.emit("progress", &(n + 1))?;
///         }
///     }
///     link.info("done");
///     Ok(())
/// }
/// # fn main() {}
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Link {
    _private: (),
}

impl Link {
    /// Emits an event; see [`Context::emit`].
    pub fn emit<T: Serialize + ?Sized>(self, name: &str, message: &T) -> Result<()> {
        let message = serde_json::to_string(message)?;
        host::emit(name, &message);
        Ok(())
    }

    /// Waits for an event or a stop request; see [`Context::wait`].
    pub fn wait(self, timeout: Option<Duration>) -> Option<Signal> {
        let timeout_ms =
            timeout.map(|t| u64::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX));
        host::wait(timeout_ms).map(Signal::from)
    }

    /// Waits for the next event; see [`Context::next_event`].
    pub fn next_event(self) -> Option<Event> {
        match self.wait(None)? {
            Signal::Event(event) => Some(event),
            Signal::Stop { .. } => None,
        }
    }

    /// Asks the hub to keep the instance running; see [`Context::keep_alive`].
    pub fn keep_alive(self, duration: Duration) {
        host::keep_alive(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
    }

    /// Writes one line to the instance log; see [`Context::log`].
    pub fn log(self, level: Level, message: &str) {
        host::log(level.into(), message);
    }

    /// Logs `message` at [`Level::Error`].
    pub fn error(self, message: &str) {
        self.log(Level::Error, message);
    }

    /// Logs `message` at [`Level::Warn`].
    pub fn warn(self, message: &str) {
        self.log(Level::Warn, message);
    }

    /// Logs `message` at [`Level::Info`].
    pub fn info(self, message: &str) {
        self.log(Level::Info, message);
    }

    /// Logs `message` at [`Level::Debug`].
    pub fn debug(self, message: &str) {
        self.log(Level::Debug, message);
    }

    /// Logs `message` at [`Level::Trace`].
    pub fn trace(self, message: &str) {
        self.log(Level::Trace, message);
    }
}

impl From<types::Signal> for Signal {
    fn from(signal: types::Signal) -> Self {
        match signal {
            types::Signal::Event(types::Event { name, message }) => Signal::Event(Event {
                name,
                // The hub sends JSON text; anything else is kept as the string it was.
                message: serde_json::from_str(&message).unwrap_or(Value::String(message)),
            }),
            types::Signal::Stop(stop) => Signal::Stop {
                timeout: Duration::from_millis(stop.timeout_ms),
                can_keep_alive: stop.can_keep_alive,
            },
        }
    }
}

impl From<Level> for types::LogLevel {
    fn from(level: Level) -> Self {
        match level {
            Level::Trace => Self::Trace,
            Level::Debug => Self::Debug,
            Level::Info => Self::Info,
            Level::Warn => Self::Warn,
            Level::Error => Self::Error,
        }
    }
}
