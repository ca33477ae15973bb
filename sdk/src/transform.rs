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

    /// The next non-blank line.
    fn next_record_line(&mut self) -> Result<Option<(u64, &[u8])>> {
        loop {
            match self.next_line()? {
                None => return Ok(None),
                Some((_, line)) if is_blank(line) => continue,
                // Re-borrow: the early return above ends the loop's borrow of `self.buf`.
                Some((n, _)) => return Ok(Some((n, trim_line(&self.buf)))),
            }
        }
    }
}

fn trim_line(buf: &[u8]) -> &[u8] {
    trim_cr(buf.strip_suffix(b"\n").unwrap_or(buf))
}

/// Calls `f(number, line, out)` for each line of `input` (without its line ending), then
/// writes what `f` put in `out` to `output`: once per buffer the input hands over, not once
/// per line. A line that lies whole in the input's buffer is passed where it lies; only one
/// split across two buffers is copied. On an error, what the lines before it made is written
/// first.
fn each_line<R, W, F>(mut input: R, output: &mut W, mut f: F) -> Result<()>
where
    R: BufRead,
    W: Write,
    F: FnMut(u64, &[u8], &mut Vec<u8>) -> Result<()>,
{
    let mut out = Vec::new();
    let mut carry = Vec::new();
    let mut number = 0;
    let mut each = |line: &[u8], out: &mut Vec<u8>| {
        number += 1;
        f(number, trim_cr(line), out)
    };
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let mut done = 0;
        let mut result = Ok(());
        if !carry.is_empty() {
            // The rest of the line the last buffer ended in.
            match memchr::memchr(b'\n', buf) {
                None => {
                    carry.extend_from_slice(buf);
                    done = buf.len();
                }
                Some(end) => {
                    carry.extend_from_slice(&buf[..end]);
                    done = end + 1;
                    result = each(&carry, &mut out);
                    carry.clear();
                }
            }
        }
        if carry.is_empty() {
            while result.is_ok() {
                let Some(end) = memchr::memchr(b'\n', &buf[done..]) else {
                    carry.extend_from_slice(&buf[done..]);
                    done = buf.len();
                    break;
                };
                result = each(&buf[done..done + end], &mut out);
                done += end + 1;
            }
        }
        input.consume(done);
        output.write_all(&out)?;
        out.clear();
        result?;
    }
    if !carry.is_empty() {
        let result = each(&carry, &mut out);
        output.write_all(&out)?;
        result?;
    }
    output.flush()?;
    Ok(())
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A line as text, naming the line when it is not UTF-8.
fn text(n: u64, line: &[u8]) -> Result<&str> {
    std::str::from_utf8(line)
        .map_err(|e| Error::from(io::Error::new(io::ErrorKind::InvalidData, e)).at_line(n))
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Appends `record` and `\n` to `out`, naming the line on failure.
fn push_record<U: Serialize>(out: &mut Vec<u8>, n: u64, record: &U) -> Result<()> {
    let start = out.len();
    if let Err(e) = serde_json::to_writer(&mut *out, record) {
        out.truncate(start);
        return Err(Error::from(e).at_line(n));
    }
    out.push(b'\n');
    Ok(())
}

/// Parses one record line, naming the line on failure.
fn parse<T: DeserializeOwned>(n: u64, line: &[u8]) -> Result<T> {
    serde_json::from_slice(line).map_err(|e| Error::from(e).at_line(n))
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
    each_line(input, &mut output, |n, line, out| {
        let mapped = f(text(n, line)?).map_err(|e| e.at_line(n))?;
        writeln!(out, "{mapped}")?;
        Ok(())
    })
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
    each_line(input, &mut output, |n, line, out| {
        if keep(text(n, line)?) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        Ok(())
    })
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
    each_line(input, &mut output, |n, line, out| {
        for item in f(text(n, line)?).map_err(|e| e.at_line(n))? {
            writeln!(out, "{item}")?;
        }
        Ok(())
    })
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
    each_line(input, &mut output, |n, line, out| {
        if is_blank(line) {
            return Ok(());
        }
        let mapped = f(parse(n, line)?).map_err(|e| e.at_line(n))?;
        push_record(out, n, &mapped)
    })
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
    each_line(input, &mut output, |n, line, out| {
        if !is_blank(line) && keep(&parse(n, line)?) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        Ok(())
    })
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
    each_line(input, &mut output, |n, line, out| {
        if is_blank(line) {
            return Ok(());
        }
        for item in f(parse(n, line)?).map_err(|e| e.at_line(n))? {
            push_record(out, n, &item)?;
        }
        Ok(())
    })
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
    fn lines_split_across_buffers_of_every_size_come_out_whole() -> Result<()> {
        let input = b"{\"n\":1}\r\n\n{\"n\":22}\n  \n{\"n\":333}";
        for capacity in 1..=input.len() + 1 {
            let reader = io::BufReader::with_capacity(capacity, &input[..]);
            let mut out = Vec::new();
            map_records(reader, &mut out, |v: Value| Ok(v["n"].clone()))?;
            assert_eq!(out, b"1\n22\n333\n", "buffers of {capacity} bytes");

            let reader = io::BufReader::with_capacity(capacity, &input[..]);
            let mut out = Vec::new();
            map_lines(reader, &mut out, |l| Ok(l.len()))?;
            assert_eq!(out, b"7\n0\n8\n2\n9\n", "buffers of {capacity} bytes");

            let bad = b"{\"n\":1}\n\n{\"n\":}\n{\"n\":4}\n";
            let reader = io::BufReader::with_capacity(capacity, &bad[..]);
            let mut out = Vec::new();
            let err = map_records(reader, &mut out, |v: Value| Ok(v)).err();
            assert_eq!(
                err.map(|e| e.to_string()).as_deref(),
                Some("line 3: expected value at line 1 column 6"),
                "buffers of {capacity} bytes"
            );
            assert_eq!(
                out, b"{\"n\":1}\n",
                "what came before the bad line is written"
            );
        }
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
