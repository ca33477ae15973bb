//! One-line transforms over lines of text or newline-delimited JSON records.
//!
//! Each function reads `input` to its end, writes to `output`, and flushes `output` when
//! done. They work on any [`BufRead`] and [`Write`], so they run the same in a plugin (on
//! [`Context::input`](crate::Context::input) and [`Context::output`](crate::Context::output),
//! which the `Context` methods of the same names do for you) and in a native test.
//!
//! Lines are split on `\n`, and a trailing `\r` is dropped; every output line ends with
//! `\n`. Records are one JSON value per line; blank lines are skipped. An error while
//! handling a line (bad UTF-8, bad JSON, or an `Err` from your closure) names the line,
//! counted from 1 with blank lines included: `line 3: expected value at line 1 column 1`.
//!
//! ```
//! use weir_sdk::transform;
//!
//! let mut out = Vec::new();
//! transform::map_lines(&b"ada\ngrace\n"[..], &mut out, |name| Ok(name.to_uppercase()))?;
//! assert_eq!(out, b"ADA\nGRACE\n");
//! # Ok::<(), weir_sdk::Error>(())
//! ```

use std::fmt::Display;
use std::io::{self, BufRead, Write};
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// Reads lines into one reused buffer and counts them.
struct LineReader<R> {
    input: R,
    buf: Vec<u8>,
    number: u64,
}

impl<R: BufRead> LineReader<R> {
    fn new(input: R) -> Self {
        Self {
            input,
            buf: Vec::new(),
            number: 0,
        }
    }

    /// The next line's number and bytes, without its line ending.
    fn next_line(&mut self) -> Result<Option<(u64, &[u8])>> {
        self.buf.clear();
        if self.input.read_until(b'\n', &mut self.buf)? == 0 {
            return Ok(None);
        }
        self.number += 1;
        Ok(Some((self.number, trim_line(&self.buf))))
    }

    /// The next line as text.
    fn next_text(&mut self) -> Result<Option<(u64, &str)>> {
        match self.next_line()? {
            None => Ok(None),
            Some((n, line)) => match std::str::from_utf8(line) {
                Ok(text) => Ok(Some((n, text))),
                Err(e) => {
                    Err(Error::from(io::Error::new(io::ErrorKind::InvalidData, e)).at_line(n))
                }
            },
        }
    }

    /// The next non-blank line.
    fn next_record_line(&mut self) -> Result<Option<(u64, &[u8])>> {
        loop {
            match self.next_line()? {
                None => return Ok(None),
                Some((_, line)) if line.iter().all(u8::is_ascii_whitespace) => continue,
                // Re-borrow: the early return above ends the loop's borrow of `self.buf`.
                Some((n, _)) => return Ok(Some((n, trim_line(&self.buf)))),
            }
        }
    }
}

fn trim_line(buf: &[u8]) -> &[u8] {
    let line = buf.strip_suffix(b"\n").unwrap_or(buf);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Parses one record line, naming the line on failure.
fn parse<T: DeserializeOwned>(n: u64, line: &[u8]) -> Result<T> {
    serde_json::from_slice(line).map_err(|e| Error::from(e).at_line(n))
}

/// Writes `record` and `\n` with one `write_all`, through a reused buffer.
fn write_record<W: Write, U: Serialize>(
    output: &mut W,
    scratch: &mut Vec<u8>,
    n: u64,
    record: &U,
) -> Result<()> {
    scratch.clear();
    serde_json::to_writer(&mut *scratch, record).map_err(|e| Error::from(e).at_line(n))?;
    scratch.push(b'\n');
    output.write_all(scratch)?;
    Ok(())
}

/// An iterator over newline-delimited JSON records: one `T` per non-blank line.
///
/// Made by [`records`] or [`Input::records`](crate::Input::records).
pub struct Records<R, T> {
    lines: LineReader<R>,
    record: PhantomData<fn() -> T>,
}

impl<R: BufRead, T: DeserializeOwned> Records<R, T> {
    pub(crate) fn new(input: R) -> Self {
        Self {
            lines: LineReader::new(input),
            record: PhantomData,
        }
    }
}

impl<R: BufRead, T: DeserializeOwned> Iterator for Records<R, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        match self.lines.next_record_line() {
            Ok(None) => None,
            Ok(Some((n, line))) => Some(parse(n, line)),
            Err(e) => Some(Err(e)),
        }
    }
}

/// Reads `input` as newline-delimited JSON, one `T` per non-blank line.
///
/// ```
/// let input = &b"{\"n\":1}\n\n{\"n\":2}\nnope\n"[..];
/// let mut records = weir_sdk::transform::records::<serde_json::Value, _>(input);
/// assert_eq!(records.next().unwrap()?["n"], 1);
/// assert_eq!(records.next().unwrap()?["n"], 2);
/// let bad = records.next().unwrap().unwrap_err();
/// assert_eq!(bad.to_string(), "line 4: expected ident at line 1 column 2");
/// assert!(records.next().is_none());
/// # Ok::<(), weir_sdk::Error>(())
/// ```
pub fn records<T: DeserializeOwned, R: BufRead>(input: R) -> Records<R, T> {
    Records::new(input)
}

/// Writes `f(line)` and `\n` for each input line.
///
/// ```
/// let mut out = Vec::new();
/// weir_sdk::transform::map_lines(&b"1\n2\n"[..], &mut out, |line| {
///     let n: u32 = line.parse().map_err(|_| "not a number")?;
///     Ok(n * 10)
/// })?;
/// assert_eq!(out, b"10\n20\n");
///
/// let err = weir_sdk::transform::map_lines(&b"1\nx\n"[..], Vec::new(), |line| {
///     line.parse::<u32>().map_err(|_| weir_sdk::Error::from("not a number"))
/// });
/// assert_eq!(err.unwrap_err().to_string(), "line 2: not a number");
/// # Ok::<(), weir_sdk::Error>(())
/// ```
pub fn map_lines<R, W, F, S>(input: R, mut output: W, mut f: F) -> Result<()>
where
    R: BufRead,
    W: Write,
    F: FnMut(&str) -> Result<S>,
    S: Display,
{
    let mut lines = LineReader::new(input);
    while let Some((n, line)) = lines.next_text()? {
        let mapped = f(line).map_err(|e| e.at_line(n))?;
        writeln!(output, "{mapped}")?;
    }
    output.flush()?;
    Ok(())
}

/// Copies the input lines for which `keep(line)` is true.
///
/// ```
/// let mut out = Vec::new();
/// weir_sdk::transform::filter_lines(&b"keep me\ndrop me\nkeep too"[..], &mut out, |line| {
///     line.starts_with("keep")
/// })?;
/// assert_eq!(out, b"keep me\nkeep too\n");
/// # Ok::<(), weir_sdk::Error>(())
/// ```
pub fn filter_lines<R, W, F>(input: R, mut output: W, mut keep: F) -> Result<()>
where
    R: BufRead,
    W: Write,
    F: FnMut(&str) -> bool,
{
    let mut lines = LineReader::new(input);
    while let Some((_, line)) = lines.next_text()? {
        if keep(line) {
            output.write_all(line.as_bytes())?;
            output.write_all(b"\n")?;
        }
    }
    output.flush()?;
    Ok(())
}

/// Writes each item of `f(line)` as a line: none, one or many per input line.
///
/// ```
/// let mut out = Vec::new();
/// weir_sdk::transform::flat_map_lines(&b"a b\n\nc\n"[..], &mut out, |line| {
///     Ok(line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
/// })?;
/// assert_eq!(out, b"a\nb\nc\n");
/// # Ok::<(), weir_sdk::Error>(())
/// ```
pub fn flat_map_lines<R, W, F, I>(input: R, mut output: W, mut f: F) -> Result<()>
where
    R: BufRead,
    W: Write,
    F: FnMut(&str) -> Result<I>,
    I: IntoIterator,
    I::Item: Display,
{
    let mut lines = LineReader::new(input);
    while let Some((n, line)) = lines.next_text()? {
        for item in f(line).map_err(|e| e.at_line(n))? {
            writeln!(output, "{item}")?;
        }
    }
    output.flush()?;
    Ok(())
}

/// Parses each non-blank line as a `T` and writes `f(record)` as one line of compact JSON.
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize)]
/// struct Order { id: u32, qty: u32, price: f64 }
/// #[derive(Serialize)]
/// struct Total { id: u32, total: f64 }
///
/// let input = &br#"{"id":1,"qty":2,"price":1.5}
/// {"id":2,"qty":1,"price":4.0}
/// "#[..];
/// let mut out = Vec::new();
/// weir_sdk::transform::map_records(input, &mut out, |o: Order| {
///     Ok(Total { id: o.id, total: f64::from(o.qty) * o.price })
/// })?;
/// assert_eq!(out, b"{\"id\":1,\"total\":3.0}\n{\"id\":2,\"total\":4.0}\n");
///
/// let err = weir_sdk::transform::map_records(&b"{}\n\n[\n"[..], Vec::new(), |v: serde_json::Value| Ok(v));
/// assert_eq!(err.unwrap_err().to_string(), "line 3: EOF while parsing a list at line 1 column 1");
/// # Ok::<(), weir_sdk::Error>(())
/// ```
pub fn map_records<R, W, T, U, F>(input: R, mut output: W, mut f: F) -> Result<()>
where
    R: BufRead,
    W: Write,
    T: DeserializeOwned,
    U: Serialize,
    F: FnMut(T) -> Result<U>,
{
    let mut lines = LineReader::new(input);
    let mut scratch = Vec::new();
    while let Some((n, line)) = lines.next_record_line()? {
        let mapped = f(parse(n, line)?).map_err(|e| e.at_line(n))?;
        write_record(&mut output, &mut scratch, n, &mapped)?;
    }
    output.flush()?;
    Ok(())
}

/// Parses each non-blank line as a `T` and copies the line, unchanged, when `keep(&record)`
/// is true.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Event { level: String }
///
/// let input = &b"{\"level\":\"info\",\"m\":1}\n{\"level\":\"error\",\"m\":2}\n"[..];
/// let mut out = Vec::new();
/// weir_sdk::transform::filter_records(input, &mut out, |e: &Event| e.level == "error")?;
/// assert_eq!(out, b"{\"level\":\"error\",\"m\":2}\n");
/// # Ok::<(), weir_sdk::Error>(())
/// ```
pub fn filter_records<R, W, T, F>(input: R, mut output: W, mut keep: F) -> Result<()>
where
    R: BufRead,
    W: Write,
    T: DeserializeOwned,
    F: FnMut(&T) -> bool,
{
    let mut lines = LineReader::new(input);
    while let Some((n, line)) = lines.next_record_line()? {
        if keep(&parse(n, line)?) {
            output.write_all(line)?;
            output.write_all(b"\n")?;
        }
    }
    output.flush()?;
    Ok(())
}

/// Parses each non-blank line as a `T` and writes each item of `f(record)` as one line of
/// compact JSON: none, one or many per input record.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Basket { items: Vec<String> }
///
/// let input = &b"{\"items\":[\"tea\",\"milk\"]}\n{\"items\":[]}\n"[..];
/// let mut out = Vec::new();
/// weir_sdk::transform::flat_map_records(input, &mut out, |b: Basket| Ok(b.items))?;
/// assert_eq!(out, b"\"tea\"\n\"milk\"\n");
/// # Ok::<(), weir_sdk::Error>(())
/// ```
pub fn flat_map_records<R, W, T, F, I>(input: R, mut output: W, mut f: F) -> Result<()>
where
    R: BufRead,
    W: Write,
    T: DeserializeOwned,
    F: FnMut(T) -> Result<I>,
    I: IntoIterator,
    I::Item: Serialize,
{
    let mut lines = LineReader::new(input);
    let mut scratch = Vec::new();
    while let Some((n, line)) = lines.next_record_line()? {
        for item in f(parse(n, line)?).map_err(|e| e.at_line(n))? {
            write_record(&mut output, &mut scratch, n, &item)?;
        }
    }
    output.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn crlf_and_a_missing_final_newline_are_handled() -> Result<()> {
        let mut out = Vec::new();
        map_lines(&b"a\r\nb"[..], &mut out, |l| Ok(format!("<{l}>")))?;
        assert_eq!(out, b"<a>\n<b>\n");
        Ok(())
    }

    #[test]
    fn bad_utf8_names_the_line() {
        let err = filter_lines(&b"ok\n\xff\n"[..], Vec::new(), |_| true)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("line 2: invalid utf-8 sequence of 1 bytes from index 0")
        );
    }

    #[test]
    fn blank_lines_are_skipped_but_counted() {
        let input = &b"{\"a\":1}\n\n  \r\n{\"a\":}\n"[..];
        let err = map_records(input, Vec::new(), |v: Value| Ok(v))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("line 4: expected value at line 1 column 6")
        );
    }

    #[test]
    fn records_keep_their_key_order() -> Result<()> {
        let mut out = Vec::new();
        map_records(&b"{\"z\":1,\"a\":2}\n"[..], &mut out, |mut v: Value| {
            if let Some(o) = v.as_object_mut() {
                o.insert("m".into(), Value::Bool(true));
            }
            Ok(v)
        })?;
        assert_eq!(out, b"{\"z\":1,\"a\":2,\"m\":true}\n");
        Ok(())
    }

    #[test]
    fn closure_errors_name_the_line() {
        let err = flat_map_records(&b"1\n2\n"[..], Vec::new(), |n: u32| {
            if n == 2 {
                Err(Error::from("two"))
            } else {
                Ok(vec![n])
            }
        });
        assert_eq!(
            err.err().map(|e| e.to_string()).as_deref(),
            Some("line 2: two")
        );
    }
}
