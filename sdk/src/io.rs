//! The instance's input and output streams, buffered so that bytes cross into the host in
//! large chunks.

use std::cell::RefCell;
use std::io::{self, BufRead, Read, Write};
use std::rc::Rc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Result;
use crate::host;
use crate::transform::Records;

/// Bytes asked for per host read, size of the output buffer, and the smallest chunk the
/// output hands to the host (except on flush).
pub(crate) const CHUNK_SIZE: usize = 64 * 1024;

/// Where the input's chunks come from: the host, or a test double.
type Source = fn(u32) -> Option<Vec<u8>>;
/// Where the output's chunks go.
type Sink = fn(&[u8]) -> io::Result<()>;

fn host_read(max_len: u32) -> Option<Vec<u8>> {
    host::read_input(max_len)
}

fn host_write(data: &[u8]) -> io::Result<()> {
    host::write_output(data).map_err(|host::WriteError::Closed| {
        io::Error::new(io::ErrorKind::BrokenPipe, "the output is closed")
    })
}

/// The instance's input stream (`POST /instance/:id/input`, or an input topic).
///
/// Reads from the hub 64 KiB at a time. Use it through [`Read`] and [`BufRead`], or
/// [`lines`](Input::lines) and [`records`](Input::records). End of input is end of file:
/// `read` returns 0 and iterators end.
///
/// ```no_run
/// use std::io::Read;
///
/// #[weir_sdk::sequence]
/// fn run(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()> {
///     let mut all = Vec::new();
///     ctx.input().read_to_end(&mut all)?;
///     ctx.info(&format!("{} bytes of input", all.len()));
///     Ok(())
/// }
/// # fn main() {}
/// ```
pub struct Input {
    chunks: Chunks,
    source: Source,
    /// The output to flush before waiting for more input, so that a reader
    /// sees every result of the input received so far.
    flush_before_wait: Option<Rc<RefCell<OutputBuffer>>>,
}

impl Input {
    pub(crate) fn new() -> Self {
        Self::with_source(host_read)
    }

    fn with_source(source: Source) -> Self {
        Self {
            chunks: Chunks::default(),
            source,
            flush_before_wait: None,
        }
    }

    /// Makes this input flush `output` whenever it is about to wait for more
    /// input: results stream out as soon as their input has been processed.
    pub(crate) fn flushing(mut self, output: &Output) -> Self {
        self.flush_before_wait = Some(output.buffer.clone());
        self
    }

    /// The input's lines, without their `\n` (or `\r\n`); the last line may lack one.
    ///
    /// The same as [`BufRead::lines`], without having to import the trait.
    ///
    /// ```no_run
    /// # fn f(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()> {
    /// let mut longest = 0;
    /// for line in ctx.input().lines() {
    ///     longest = longest.max(line?.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn lines(&mut self) -> io::Lines<&mut Self> {
        BufRead::lines(self)
    }

    /// The input as newline-delimited JSON: one `T` per non-blank line.
    ///
    /// A line that does not parse gives an error naming its line number (from 1, blank
    /// lines included): `line 3: expected value at line 1 column 1`.
    ///
    /// ```no_run
    /// # fn f(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()> {
    /// #[derive(serde::Deserialize)]
    /// struct Reading { celsius: f64 }
    ///
    /// let mut sum = 0.0;
    /// for reading in ctx.input().records::<Reading>() {
    ///     sum += reading?.celsius;
    /// }
    /// ctx.output().write_record(&sum)?;
    /// # Ok(()) }
    /// ```
    pub fn records<T: DeserializeOwned>(&mut self) -> Records<&mut Self, T> {
        Records::new(self)
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Input {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let (source, flush) = (self.source, &self.flush_before_wait);
        self.chunks.fill(|| {
            if let Some(output) = flush {
                output.borrow_mut().flush()?;
            }
            Ok(source(CHUNK_SIZE as u32))
        })
    }

    fn consume(&mut self, amt: usize) {
        self.chunks.consume(amt);
    }
}

/// Chunks pulled from a blocking host read, served as one byte stream (the
/// state behind [`Input`] and [`TopicReader`](crate::topic::TopicReader)).
#[derive(Default)]
pub(crate) struct Chunks {
    chunk: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl Chunks {
    /// The unread bytes; when none are left, `pull` fetches the next chunk
    /// (`None` is the end of the stream).
    pub(crate) fn fill(
        &mut self,
        mut pull: impl FnMut() -> io::Result<Option<Vec<u8>>>,
    ) -> io::Result<&[u8]> {
        // The host never sends an empty chunk, but an empty one must not read as the end.
        while self.pos >= self.chunk.len() && !self.ended {
            self.pos = 0;
            match pull()? {
                Some(chunk) => self.chunk = chunk,
                None => {
                    self.chunk = Vec::new();
                    self.ended = true;
                }
            }
        }
        Ok(self.chunk.get(self.pos..).unwrap_or_default())
    }

    pub(crate) fn consume(&mut self, amt: usize) {
        self.pos = self.pos.saturating_add(amt).min(self.chunk.len());
    }
}

/// The instance's output stream (`GET /instance/:id/output`, or an output topic).
///
/// Writes are buffered: the hub receives the output in chunks of at least 64 KiB, or
/// whatever is buffered when you [`flush`](Write::flush). The output is flushed when the
/// sequence function returns; flush yourself when a reader should see data at once.
///
/// ```no_run
/// use std::io::Write;
///
/// #[weir_sdk::sequence]
/// fn run(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()> {
///     let out = ctx.output();
///     writeln!(out, "starting")?;
///     out.flush()?;
///     out.write_record(&serde_json::json!({ "ready": true }))?;
///     Ok(())
/// }
/// # fn main() {}
/// ```
pub struct Output {
    buffer: Rc<RefCell<OutputBuffer>>,
}

/// The output's bytes not yet handed to the host.
pub(crate) struct OutputBuffer {
    buf: Vec<u8>,
    sink: Sink,
}

impl OutputBuffer {
    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= CHUNK_SIZE {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        // On failure the output is closed for good: the buffered bytes can never be sent.
        let sent = (self.sink)(&self.buf);
        self.buf.clear();
        sent
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.flush_buf()
    }
}

impl Output {
    pub(crate) fn new() -> Self {
        Self::with_sink(host_write)
    }

    fn with_sink(sink: Sink) -> Self {
        Self {
            buffer: Rc::new(RefCell::new(OutputBuffer {
                buf: Vec::with_capacity(CHUNK_SIZE),
                sink,
            })),
        }
    }

    /// Writes `record` as one line of compact JSON followed by `\n`.
    ///
    /// ```no_run
    /// # fn f(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()> {
    /// ctx.output().write_record(&serde_json::json!({ "id": 1, "ok": true }))?;
    /// // the output now holds {"id":1,"ok":true}\n
    /// # Ok(()) }
    /// ```
    pub fn write_record<T: Serialize + ?Sized>(&mut self, record: &T) -> Result<()> {
        let mut out = self.buffer.borrow_mut();
        out.flush_if_full()?;
        let start = out.buf.len();
        if let Err(e) = serde_json::to_writer(&mut out.buf, record) {
            out.buf.truncate(start);
            return Err(e.into());
        }
        out.buf.push(b'\n');
        Ok(())
    }
}

impl Write for Output {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut out = self.buffer.borrow_mut();
        out.flush_if_full()?;
        if out.buf.is_empty() && data.len() >= CHUNK_SIZE {
            (out.sink)(data)?;
            return Ok(data.len());
        }
        let n = data.len().min(CHUNK_SIZE - out.buf.len());
        out.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.buffer.borrow_mut().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        static CHUNKS_IN: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
        static CHUNKS_OUT: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    }

    fn fake_read(_max: u32) -> Option<Vec<u8>> {
        CHUNKS_IN.with(|c| {
            let mut c = c.borrow_mut();
            if c.is_empty() {
                None
            } else {
                Some(c.remove(0))
            }
        })
    }

    fn fake_write(data: &[u8]) -> io::Result<()> {
        CHUNKS_OUT.with(|c| c.borrow_mut().push(data.len()));
        Ok(())
    }

    fn closed(_data: &[u8]) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the output is closed",
        ))
    }

    #[test]
    fn input_reads_lines_across_chunks_and_skips_empty_chunks() {
        CHUNKS_IN.with(|c| *c.borrow_mut() = vec![b"ab".to_vec(), Vec::new(), b"c\nd".to_vec()]);
        let mut input = Input::with_source(fake_read);
        let lines: Vec<String> = Input::lines(&mut input)
            .collect::<io::Result<_>>()
            .unwrap_or_default();
        assert_eq!(lines, ["abc", "d"]);
        assert_eq!(input.read(&mut [0; 4]).ok(), Some(0));
    }

    #[test]
    fn output_sends_full_chunks_then_the_rest_on_flush() -> io::Result<()> {
        CHUNKS_OUT.with(|c| c.borrow_mut().clear());
        let mut out = Output::with_sink(fake_write);
        for _ in 0..3 {
            out.write_all(&[b'x'; 50_000])?;
        }
        out.write_all(&[b'y'; 200_000])?;
        out.flush()?;
        out.flush()?;
        let sizes = CHUNKS_OUT.with(|c| c.borrow().clone());
        // Every host write is a full chunk, except that a write of a chunk or more goes
        // straight through once the buffer is empty.
        assert_eq!(sizes, [CHUNK_SIZE, CHUNK_SIZE, CHUNK_SIZE, 153_392]);
        assert_eq!(sizes.iter().sum::<usize>(), 350_000);
        Ok(())
    }

    #[test]
    fn input_flushes_the_output_before_waiting_for_more() -> io::Result<()> {
        CHUNKS_IN.with(|c| *c.borrow_mut() = vec![b"a\n".to_vec(), b"b\n".to_vec()]);
        CHUNKS_OUT.with(|c| c.borrow_mut().clear());
        let mut out = Output::with_sink(fake_write);
        let mut input = Input::with_source(fake_read).flushing(&out);
        let mut line = String::new();
        input.read_line(&mut line)?;
        out.write_all(b"result of a\n")?;
        assert!(
            CHUNKS_OUT.with(|c| c.borrow().is_empty()),
            "buffered while input is at hand"
        );
        input.read_line(&mut line)?;
        assert_eq!(
            CHUNKS_OUT.with(|c| c.borrow().clone()),
            [12],
            "flushed before the next read"
        );
        Ok(())
    }

    #[test]
    fn output_reports_a_closed_output() {
        let mut out = Output::with_sink(closed);
        assert!(out.write_all(b"hello\n").is_ok());
        let err = out.flush().err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("the output is closed"));
    }
}
