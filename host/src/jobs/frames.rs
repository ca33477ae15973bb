//! Frame lists (`"1-100"`, `"1-10,20,30-35"`) and their split into tasks.

use crate::wire::FrameSpec;

/// Most frames one job may have.
pub const MAX_FRAMES: usize = 1_000_000;

impl FrameSpec {
    /// The frames, sorted and without duplicates, and the canonical text.
    pub fn resolve(&self) -> Result<(Vec<i64>, String), String> {
        let mut frames = Vec::new();
        match self {
            FrameSpec::Text(text) => {
                for part in text.split(',').map(str::trim) {
                    if part.is_empty() {
                        return Err(format!("frames {text:?}: empty part"));
                    }
                    let (a, b) = split_range(part)
                        .ok_or_else(|| format!("frames {text:?}: {part:?} is not N or N-M"))?;
                    push_range(&mut frames, a, b)?;
                }
            }
            FrameSpec::Range { start, end } => push_range(&mut frames, *start, *end)?,
            FrameSpec::One(n) => push_range(&mut frames, *n, *n)?,
        }
        frames.sort_unstable();
        frames.dedup();
        if frames.is_empty() {
            return Err("frames: no frames given".into());
        }
        let text = canonical(&frames);
        Ok((frames, text))
    }
}

/// `"N"` or `"N-M"` (negative numbers allowed: `"-5--1"`).
fn split_range(part: &str) -> Option<(i64, i64)> {
    if let Ok(n) = part.parse::<i64>() {
        return Some((n, n));
    }
    // Find a '-' that is not a leading sign.
    let bytes = part.as_bytes();
    (1..bytes.len()).find_map(|i| {
        if bytes[i] != b'-' {
            return None;
        }
        let a = part[..i].trim().parse().ok()?;
        let b = part[i + 1..].trim().parse().ok()?;
        Some((a, b))
    })
}

fn push_range(frames: &mut Vec<i64>, a: i64, b: i64) -> Result<(), String> {
    if b < a {
        return Err(format!("frames: range {a}-{b} ends before it starts"));
    }
    let count = (b as i128 - a as i128 + 1) as u128;
    if frames.len() as u128 + count > MAX_FRAMES as u128 {
        return Err(format!("frames: at most {MAX_FRAMES} frames per job"));
    }
    frames.extend(a..=b);
    Ok(())
}

/// `[1,2,3,5]` → `"1-3,5"`.
pub fn canonical(frames: &[i64]) -> String {
    ranges(frames, usize::MAX)
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Splits sorted frames into runs of consecutive frames of at most `chunk`
/// frames each: the tasks of a job.
pub fn ranges(frames: &[i64], chunk: usize) -> Vec<(i64, i64)> {
    let chunk = chunk.max(1);
    let mut out = Vec::new();
    let mut iter = frames.iter().copied();
    let Some(first) = iter.next() else {
        return out;
    };
    let (mut start, mut end, mut len) = (first, first, 1usize);
    for f in iter {
        if f == end + 1 && len < chunk {
            end = f;
            len += 1;
        } else {
            out.push((start, end));
            (start, end, len) = (f, f, 1);
        }
    }
    out.push((start, end));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<(Vec<i64>, String), String> {
        FrameSpec::Text(text.into()).resolve()
    }

    #[test]
    fn parses_ranges_lists_and_negatives() {
        assert_eq!(resolve("1-3").unwrap().0, vec![1, 2, 3]);
        assert_eq!(
            resolve("1-3, 7,5").unwrap(),
            (vec![1, 2, 3, 5, 7], "1-3,5,7".into())
        );
        assert_eq!(resolve("-2-1").unwrap().0, vec![-2, -1, 0, 1]);
        assert_eq!(resolve("3,3,3").unwrap().0, vec![3]);
        let range = FrameSpec::Range { start: 10, end: 12 };
        assert_eq!(range.resolve().unwrap().1, "10-12");
    }

    #[test]
    fn refuses_nonsense_with_the_reason() {
        assert!(resolve("").unwrap_err().contains("empty part"));
        assert!(resolve("a-b").unwrap_err().contains("not N or N-M"));
        assert!(
            resolve("5-1")
                .unwrap_err()
                .contains("ends before it starts")
        );
        assert!(resolve("1-2000000").unwrap_err().contains("at most"));
        assert!(resolve("1,,2").unwrap_err().contains("empty part"));
    }

    #[test]
    fn chunks_never_cross_gaps() {
        let frames = resolve("1-10,20,30-35").unwrap().0;
        assert_eq!(
            ranges(&frames, 4),
            vec![(1, 4), (5, 8), (9, 10), (20, 20), (30, 33), (34, 35)]
        );
        assert_eq!(ranges(&frames, 0), ranges(&frames, 1));
        assert_eq!(ranges(&frames, 1).len(), frames.len());
    }
}
