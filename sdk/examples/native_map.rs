//! The benchmark map of `tests/fixtures/bench-map` compiled natively:
//! stdin ndjson `{id,name,n}` → stdout `{id,NAME,n*2}`. The baseline for
//! weir's records/s figure (`tests/bench/hub-vs-scramjet.sh`).

use std::io::{BufReader, BufWriter};

use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize)]
struct Record {
    id: u64,
    name: String,
    n: i64,
}

fn main() -> weir_sdk::Result<()> {
    let input = BufReader::with_capacity(64 * 1024, std::io::stdin().lock());
    let output = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    weir_sdk::transform::map_records(input, output, |record: Record| {
        Ok(Record {
            name: record.name.to_uppercase(),
            n: record.n * 2,
            ..record
        })
    })
}
