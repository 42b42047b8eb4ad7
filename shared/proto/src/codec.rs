//! The protobuf codec every generated client and server uses: tonic-prost's, with a
//! smaller starting buffer.
//!
//! tonic gives every call an 8 KiB encode buffer and an 8 KiB decode buffer. A
//! Switchyard message (a chat request, a response, a stream chunk) is a few hundred
//! bytes, and every request crosses two or three gRPC hops (in process in the
//! all-in-one shape), so under load the default sizes held tens of MiB of mostly
//! empty buffers. The buffers start at [`BUFFER_SIZE`] and still grow for larger
//! messages, up to the same message size limits.

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstDecoder, ProstEncoder};

/// The starting size of each call's encode and decode buffer, in bytes.
pub const BUFFER_SIZE: usize = 1024;

/// Encoded bytes gathered before a streaming response yields them (tonic's default).
const YIELD_THRESHOLD: usize = 32 * 1024;

fn settings() -> BufferSettings {
    BufferSettings::new(BUFFER_SIZE, YIELD_THRESHOLD)
}

/// tonic-prost's codec with [`BUFFER_SIZE`] buffers; named by `codec_path` in
/// build.rs so the generated code uses it.
#[derive(Debug, Clone, Copy)]
pub struct SmallBufferCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for SmallBufferCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for SmallBufferCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::new(settings())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::codec::{Decoder, Encoder};

    #[test]
    fn both_directions_start_small() {
        let mut codec =
            SmallBufferCodec::<prost_types::Timestamp, prost_types::Timestamp>::default();
        let expected = format!("{:?}", settings());
        assert!(expected.contains(&format!("buffer_size: {BUFFER_SIZE}")));
        assert_eq!(format!("{:?}", codec.encoder().buffer_settings()), expected);
        assert_eq!(format!("{:?}", codec.decoder().buffer_settings()), expected);
    }
}
