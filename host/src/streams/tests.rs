//! The pipe rules users rely on.

use super::*;
use std::time::Duration;
use tokio::time::timeout;

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

#[tokio::test]
async fn first_reader_gets_the_backlog() {
    let pipe = Pipe::new(1024, Overflow::Block);
    pipe.write(b("a")).await.unwrap();
    pipe.write(b("b")).await.unwrap();
    pipe.close();
    let mut reader = pipe.reader();
    assert_eq!(reader.next().await, Some(b("a")));
    assert_eq!(reader.next().await, Some(b("b")));
    assert_eq!(reader.next().await, None);
}

#[tokio::test]
async fn later_reader_starts_at_the_live_end() {
    let pipe = Pipe::new(1024, Overflow::Block);
    let mut first = pipe.reader();
    pipe.write(b("old")).await.unwrap();
    let mut second = pipe.reader();
    pipe.write(b("new")).await.unwrap();
    pipe.close();
    assert_eq!(first.next().await, Some(b("old")));
    assert_eq!(first.next().await, Some(b("new")));
    assert_eq!(second.next().await, Some(b("new")));
    assert_eq!(second.next().await, None);
}

#[tokio::test]
async fn full_pipe_blocks_the_writer_until_read() {
    let pipe = Pipe::new(4, Overflow::Block);
    pipe.write(b("1234")).await.unwrap();
    let blocked = timeout(Duration::from_millis(50), pipe.write(b("5"))).await;
    assert!(blocked.is_err(), "write into a full pipe must wait");
    let mut reader = pipe.reader();
    assert_eq!(reader.next().await, Some(b("1234")));
    timeout(Duration::from_secs(1), pipe.write(b("5")))
        .await
        .expect("room after read")
        .unwrap();
    assert_eq!(reader.next().await, Some(b("5")));
}

#[tokio::test]
async fn a_batch_goes_in_whole_between_other_writes() {
    let pipe = Pipe::new(4, Overflow::Block);
    let mut reader = pipe.reader();
    pipe.write(b("ab")).await.unwrap();
    let batch = pipe.write_batch(vec![b("cd"), Bytes::new(), b("efgh")]);
    let late = pipe.write(b("ij"));
    let read = async {
        let mut got = Vec::new();
        while got.len() < 4 {
            got.push(reader.next().await.unwrap());
        }
        got
    };
    let (batch, late, got) = tokio::join!(batch, late, read);
    assert_eq!((batch, late), (Ok(()), Ok(())));
    // The batch waited for room as a whole (6 bytes, taken once the pipe
    // was empty); the small write that fitted went first, not inside it.
    assert_eq!(got, vec![b("ab"), b("ij"), b("cd"), b("efgh")]);
}

#[tokio::test]
async fn drop_oldest_never_blocks_and_keeps_the_newest() {
    let pipe = Pipe::new(4, Overflow::DropOldest);
    for chunk in ["ab", "cd", "ef"] {
        timeout(Duration::from_secs(1), pipe.write(b(chunk)))
            .await
            .unwrap()
            .unwrap();
    }
    pipe.close();
    let mut reader = pipe.reader();
    assert_eq!(reader.next().await, Some(b("cd")));
    assert_eq!(reader.next().await, Some(b("ef")));
    assert_eq!(reader.next().await, None);
}

#[tokio::test]
async fn a_replay_pipe_gives_every_reader_what_it_holds() {
    let pipe = Pipe::replay(4);
    pipe.push_lossy(b("ab"));
    let mut first = pipe.reader_from_oldest();
    assert_eq!(first.next().await, Some(b("ab")));
    drop(first);
    pipe.push_lossy(b("cd"));
    pipe.push_lossy(b("ef"));
    pipe.close();
    for _ in 0..2 {
        let mut reader = pipe.reader_from_oldest();
        assert_eq!(reader.next().await, Some(b("cd")));
        assert_eq!(reader.next().await, Some(b("ef")));
        assert_eq!(reader.next().await, None);
    }
}

#[tokio::test]
async fn write_after_close_fails() {
    let pipe = Pipe::new(4, Overflow::Block);
    pipe.close();
    assert_eq!(pipe.write(b("x")).await, Err(Closed));
}

#[tokio::test]
async fn a_pipe_counts_bytes_writes_and_lines_until_it_carries_bytes() {
    let pipe = Pipe::new(1024, Overflow::DropOldest);
    pipe.write(Bytes::from_static(b"a\nb\n")).await.unwrap();
    pipe.write_batch(vec![Bytes::from_static(b"c"), Bytes::from_static(b"\n")])
        .await
        .unwrap();
    let flow = pipe.flow();
    assert_eq!((flow.bytes, flow.chunks, flow.lines), (6, 2, 3));
    pipe.bytes_only();
    pipe.write(Bytes::from_static(b"\n\n")).await.unwrap();
    let flow = pipe.flow();
    assert_eq!((flow.bytes, flow.chunks, flow.lines), (8, 3, 3));
}

#[tokio::test]
async fn slowest_reader_holds_back_the_writer() {
    let pipe = Pipe::new(2, Overflow::Block);
    let mut fast = pipe.reader();
    let _slow = pipe.reader();
    pipe.write(b("ab")).await.unwrap();
    assert_eq!(fast.next().await, Some(b("ab")));
    let blocked = timeout(Duration::from_millis(50), pipe.write(b("c"))).await;
    assert!(blocked.is_err(), "the slow reader has not read yet");
    drop(_slow);
    timeout(Duration::from_secs(1), pipe.write(b("c")))
        .await
        .unwrap()
        .unwrap();
}
