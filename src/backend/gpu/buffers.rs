//! Device buffers: created only after checking the adapter's limits, filled from host
//! values in the layout the kernels expect, and read back through a staging buffer.

use std::borrow::Cow;
use std::sync::mpsc;

use crate::backend::gpu::context::Context;
use crate::backend::{BackendError, Feed};
use crate::graph::DType;

/// Fails with [`BackendError::TooLarge`] when `bytes` exceed what one buffer, or one
/// storage binding of it, may hold on this adapter.
pub fn check_size(
    limits: &wgpu::Limits,
    what: &str,
    bytes: u64,
    bound_as_storage: bool,
) -> Result<(), BackendError> {
    let mut checks = vec![(limits.max_buffer_size, "max_buffer_size")];
    if bound_as_storage {
        checks.push((
            limits.max_storage_buffer_binding_size,
            "max_storage_buffer_binding_size",
        ));
    }
    for (limit, limit_name) in checks {
        if bytes > limit {
            return Err(BackendError::TooLarge {
                what: what.to_string(),
                bytes,
                limit,
                limit_name,
            });
        }
    }
    Ok(())
}

/// A buffer kernels read and write, that the host can fill and read back. wgpu allows
/// no empty buffers and copies whole words, so the size is rounded up to a word (at
/// least one).
pub fn storage_buffer(ctx: &Context, what: &str, bytes: u64) -> Result<wgpu::Buffer, BackendError> {
    check_size(&ctx.limits, what, bytes, true)?;
    Ok(ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(what),
        size: bytes.max(4).next_multiple_of(4),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    }))
}

/// Bytes stored four to a little-endian 32-bit word (byte k in bits 8·(k%4) of word
/// k/4), which is the byte sequence itself padded to whole words.
pub fn packed_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut words = bytes.to_vec();
    words.resize(bytes.len().next_multiple_of(4), 0);
    words
}

/// A feed in the element type the plan declared for the input. A mismatched feed is
/// converted by value, as the CPU backend does (an f32 index 3.0 is row 3).
pub fn feed_bytes<'a>(feed: &Feed<'a>, dtype: DType) -> Cow<'a, [u8]> {
    match (*feed, dtype) {
        // The common case, every step: the host slice is sent as it is, no copy.
        (Feed::F32(x), DType::F32) => Cow::Borrowed(bytemuck::cast_slice(x)),
        (Feed::U32(x), DType::U32) => Cow::Borrowed(bytemuck::cast_slice(x)),
        (Feed::U32(x), DType::F32) => {
            let values: Vec<f32> = x.iter().map(|&i| i as f32).collect();
            Cow::Owned(bytemuck::cast_slice(&values).to_vec())
        }
        (Feed::F32(x), DType::U32) => {
            let values: Vec<u32> = x.iter().map(|&v| v as u32).collect();
            Cow::Owned(bytemuck::cast_slice(&values).to_vec())
        }
    }
}

/// Copies the first `count` f32 values of `source` to the host. The copy is submitted
/// after everything already queued, so it sees the results of every earlier run; this
/// blocks until it is done.
pub fn read_f32(
    ctx: &Context,
    source: &wgpu::Buffer,
    count: usize,
) -> Result<Vec<f32>, BackendError> {
    if count == 0 {
        return Ok(vec![]);
    }
    let bytes = 4 * count as u64;
    check_size(&ctx.limits, "read-back staging buffer", bytes, false)?;
    let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("read-back staging"),
        size: bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("read-back"),
        });
    encoder.copy_buffer_to_buffer(source, 0, &staging, 0, bytes);
    let submission = ctx.queue.submit([encoder.finish()]);

    let (done, mapped) = mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |result| {
        // The receiver waits below; if it is gone there is nobody left to tell.
        let _ = done.send(result);
    });
    ctx.device
        .poll(wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout: None,
        })
        .map_err(|e| BackendError::Device(format!("waiting for a read-back: {e}")))?;
    ctx.take_error()?;
    // The wait above returns after the submission's callbacks, the mapping's included.
    mapped
        .try_recv()
        .map_err(|_| BackendError::Device("a read-back was not mapped after its copy".into()))?
        .map_err(|e| BackendError::Device(format!("mapping a read-back: {e}")))?;
    let values = {
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| BackendError::Device(format!("reading a mapped buffer: {e}")))?;
        view.chunks_exact(4)
            .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect()
    };
    staging.unmap();
    Ok(values)
}
