//! What one instance of a component takes from the instance pool, read from the component
//! at load, and the checks that turn "it will not fit" into an upload error.
//!
//! The pool is sized per slot (one slot per instance the hub allows) from the components
//! weir runs, measured: a Rust plugin has 3–5 core instances, one memory and two tables; a
//! JavaScript one (componentize-js) 4 core instances, one memory of 145 pages and two
//! tables; a Python one (componentize-py) 14 core instances, one memory of 199 pages
//! (12.4 MiB) and two tables. [`PER_SLOT`] holds the largest of each with room to spare,
//! so a hub allowing N instances holds N of any of them. A component that needs more than a
//! slot, or more memory at start than its limit allows, is refused when it is loaded.

use wasmparser::{Instance, Parser, Payload};

use super::error::RuntimeError;

/// A WebAssembly page: the unit of linear memory sizes.
const PAGE: u64 = 64 << 10;

/// What one instance of a component needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Core module instances it instantiates.
    pub core_instances: u32,
    /// Linear memories it defines.
    pub memories: u32,
    /// Tables it defines.
    pub tables: u32,
    /// The largest initial linear memory, in bytes: less than this and it cannot start.
    pub min_memory_bytes: u64,
    /// The largest initial table, in elements.
    pub max_table_elements: u64,
}

/// The pool's share for one instance (see the module docs for the measurements).
pub const PER_SLOT: Footprint = Footprint {
    core_instances: 20,
    memories: 2,
    tables: 8,
    min_memory_bytes: 0,
    // wasmtime's default table slot; the largest measured table is 7,700 (JavaScript).
    max_table_elements: 20_000,
};

impl Footprint {
    /// Reads the footprint of the component `wasm` (before it is compiled: a component
    /// that cannot fit is refused without the 20–30 s a large one takes to compile).
    pub fn of(wasm: &[u8]) -> Result<Footprint, RuntimeError> {
        let malformed = |e: wasmparser::BinaryReaderError| RuntimeError::Compile(e.to_string());
        let mut footprint = Footprint::default();
        for payload in Parser::new(0).parse_all(wasm) {
            match payload.map_err(malformed)? {
                Payload::InstanceSection(reader) => {
                    for instance in reader {
                        if matches!(instance.map_err(malformed)?, Instance::Instantiate { .. }) {
                            footprint.core_instances = footprint.core_instances.saturating_add(1);
                        }
                    }
                }
                Payload::MemorySection(reader) => {
                    for memory in reader {
                        let memory = memory.map_err(malformed)?;
                        footprint.memories = footprint.memories.saturating_add(1);
                        let bytes = memory.initial.saturating_mul(PAGE);
                        footprint.min_memory_bytes = footprint.min_memory_bytes.max(bytes);
                    }
                }
                Payload::TableSection(reader) => {
                    for table in reader {
                        let table = table.map_err(malformed)?;
                        footprint.tables = footprint.tables.saturating_add(1);
                        footprint.max_table_elements =
                            footprint.max_table_elements.max(table.ty.initial);
                    }
                }
                _ => {}
            }
        }
        Ok(footprint)
    }

    /// Refuses a component that needs more than one slot of the pool.
    pub fn check_slot(&self) -> Result<(), RuntimeError> {
        for (what, needs, slot) in [
            (
                "core module instances",
                self.core_instances,
                PER_SLOT.core_instances,
            ),
            ("linear memories", self.memories, PER_SLOT.memories),
            ("tables", self.tables, PER_SLOT.tables),
        ] {
            if needs > slot {
                return Err(RuntimeError::TooLarge(format!(
                    "the component has {needs} {what}; an instance may have at most {slot}"
                )));
            }
        }
        if self.max_table_elements > PER_SLOT.max_table_elements {
            return Err(RuntimeError::TooLarge(format!(
                "the component has a table of {} elements; an instance's tables may hold at most {}",
                self.max_table_elements, PER_SLOT.max_table_elements
            )));
        }
        Ok(())
    }

    /// Refuses a memory limit of `limit_bytes` (named `limit` in the message) below the
    /// component's initial memory: such an instance could never start.
    pub fn check_memory(
        &self,
        limit_bytes: Option<usize>,
        limit: &str,
    ) -> Result<(), RuntimeError> {
        let Some(limit_bytes) = limit_bytes else {
            return Ok(());
        };
        if self.min_memory_bytes <= limit_bytes as u64 {
            return Ok(());
        }
        Err(RuntimeError::TooLarge(format!(
            "the component needs at least {} MiB of linear memory to start ({} pages), but {limit} is {}",
            self.min_memory_bytes.div_ceil(1 << 20),
            self.min_memory_bytes / PAGE,
            mebibytes(limit_bytes as u64)
        )))
    }
}

/// `13 MiB`, or `512 KiB` below a mebibyte.
fn mebibytes(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_limit_below_the_initial_memory_is_refused_in_mebibytes() {
        let python = Footprint {
            core_instances: 14,
            memories: 1,
            tables: 2,
            min_memory_bytes: 199 * PAGE,
            max_table_elements: 5_682,
        };
        assert!(python.check_slot().is_ok());
        assert!(python.check_memory(Some(13 << 20), "the limit").is_ok());
        assert!(python.check_memory(None, "the limit").is_ok());
        let e = python
            .check_memory(Some(8 << 20), "the package's limits.memory_mb")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the component does not fit: the component needs at least 13 MiB of linear memory to start (199 pages), but the package's limits.memory_mb is 8 MiB"
        );
    }

    #[test]
    fn a_component_larger_than_a_slot_is_refused() {
        let big = Footprint {
            core_instances: 21,
            ..Footprint::default()
        };
        let e = big.check_slot().unwrap_err();
        assert!(
            e.to_string()
                .contains("21 core module instances; an instance may have at most 20"),
            "{e}"
        );
        assert_eq!(mebibytes(512 << 10), "512 KiB");
        assert_eq!(mebibytes(3 << 19), "1.5 MiB");
    }
}
