//! `weir:plugin/io`: reading input and writing output.

use bytes::Bytes;

use crate::runtime::bindings;
use crate::runtime::state::InstanceState;

/// Largest chunk the host hands to a guest in one `read-input`.
pub(super) const MAX_READ: u32 = 1 << 20;
/// Output is split into pieces of at most this size so one huge guest write
/// cannot pin more than this in a pipe beyond its capacity.
const MAX_OUTPUT_PIECE: usize = 256 * 1024;

impl bindings::weir::plugin::io::Host for InstanceState {
    async fn read_input(&mut self, max_len: u32) -> Option<Vec<u8>> {
        let input = self.input.as_mut()?;
        input.read_vec(max_len.clamp(1, MAX_READ) as usize).await
    }

    async fn write_output(
        &mut self,
        data: Vec<u8>,
    ) -> Result<(), bindings::weir::plugin::io::WriteError> {
        let mut data = Bytes::from(data);
        while !data.is_empty() {
            let piece = data.split_to(data.len().min(MAX_OUTPUT_PIECE));
            self.output
                .write(piece)
                .await
                .map_err(|_| bindings::weir::plugin::io::WriteError::Closed)?;
        }
        Ok(())
    }
}
