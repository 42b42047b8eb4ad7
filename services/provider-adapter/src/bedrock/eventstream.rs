//! The `application/vnd.amazon.eventstream` framing of ConverseStream: bytes as they
//! arrive, split anywhere, to whole messages. Each message is
//! `total length | headers length | prelude CRC | headers | payload | message CRC`
//! (big-endian u32s, CRC32); `aws-smithy-eventstream` checks both CRCs and reads
//! the headers. This layer only cuts frames, and bounds them: the length is read
//! before the frame is buffered, so a corrupt or hostile length fails at once
//! instead of growing memory or waiting for bytes that never come.

use aws_smithy_eventstream::frame::read_message_from;
use aws_smithy_types::event_stream::{HeaderValue, Message};
use bytes::{Buf, BytesMut};

/// Largest message accepted. AWS caps an event-stream message at 16 MiB.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The smallest valid message: prelude (12 bytes) and message CRC (4), no headers
/// and no payload.
const MIN_MESSAGE_BYTES: usize = 16;

/// Why the bytes are not an event stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A message declares a length over the bound.
    #[error("event-stream message larger than {0} bytes")]
    TooLarge(usize),
    /// A length, CRC or header is wrong.
    #[error("malformed event-stream message")]
    Invalid,
}

/// Incremental decoder: [`push`](Self::push) bytes, then take messages with
/// [`next_message`](Self::next_message) until it returns `None`.
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: BytesMut,
    limit: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::with_limit(MAX_MESSAGE_BYTES)
    }
}

impl FrameDecoder {
    /// A decoder rejecting messages larger than `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            buffer: BytesMut::new(),
            limit,
        }
    }

    /// Feeds the next bytes of the body.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Whether bytes of an unfinished message are buffered (at the end of the body,
    /// a cut stream).
    pub fn has_partial(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// The next complete message, `None` until more bytes arrive.
    pub fn next_message(&mut self) -> Result<Option<Message>, FrameError> {
        if self.buffer.len() < 4 {
            return Ok(None);
        }
        let declared = (&self.buffer[..4]).get_u32();
        let total = usize::try_from(declared).map_err(|_| FrameError::TooLarge(self.limit))?;
        if total > self.limit {
            return Err(FrameError::TooLarge(self.limit));
        }
        if total < MIN_MESSAGE_BYTES {
            return Err(FrameError::Invalid);
        }
        if self.buffer.len() < total {
            return Ok(None);
        }
        let frame = self.buffer.split_to(total).freeze();
        read_message_from(frame)
            .map(Some)
            .map_err(|_| FrameError::Invalid)
    }
}

/// A string header's value (`:message-type`, `:event-type`, ...).
pub fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| match h.value() {
            HeaderValue::String(s) => Some(s.as_str()),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::Header;

    use super::*;

    fn encode(event: &str, payload: &str) -> Vec<u8> {
        let message = Message::new(payload.as_bytes().to_vec())
            .add_header(Header::new(
                ":event-type",
                HeaderValue::String(event.to_string().into()),
            ))
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("event".into()),
            ));
        let mut out = Vec::new();
        write_message_to(&message, &mut out).unwrap();
        out
    }

    #[test]
    fn messages_split_at_every_byte() {
        let mut bytes = encode("messageStart", r#"{"role":"assistant"}"#);
        bytes.extend(encode("messageStop", r#"{"stopReason":"end_turn"}"#));
        let mut decoder = FrameDecoder::default();
        let mut seen = Vec::new();
        for b in &bytes {
            decoder.push(std::slice::from_ref(b));
            while let Some(m) = decoder.next_message().unwrap() {
                seen.push((
                    header(&m, ":event-type").unwrap().to_string(),
                    String::from_utf8(m.payload().to_vec()).unwrap(),
                ));
            }
        }
        assert_eq!(
            seen,
            [
                (
                    "messageStart".to_string(),
                    r#"{"role":"assistant"}"#.to_string()
                ),
                (
                    "messageStop".to_string(),
                    r#"{"stopReason":"end_turn"}"#.to_string()
                ),
            ]
        );
        assert!(!decoder.has_partial());
    }

    #[test]
    fn corrupt_crc_is_invalid() {
        let mut bytes = encode("messageStart", "{}");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let mut decoder = FrameDecoder::default();
        decoder.push(&bytes);
        assert_eq!(decoder.next_message().unwrap_err(), FrameError::Invalid);
        // A flipped payload byte breaks the message CRC too.
        let mut bytes = encode("messageStart", "{}");
        bytes[last - 5] ^= 0x01;
        let mut decoder = FrameDecoder::default();
        decoder.push(&bytes);
        assert_eq!(decoder.next_message().unwrap_err(), FrameError::Invalid);
    }

    #[test]
    fn lengths_are_bounded_before_buffering() {
        let mut decoder = FrameDecoder::with_limit(1024);
        decoder.push(&[0x7f, 0xff, 0xff, 0xff]);
        assert_eq!(
            decoder.next_message().unwrap_err(),
            FrameError::TooLarge(1024)
        );
        // Not an event stream at all (an HTML or JSON body): its first bytes read as
        // an absurd length.
        let mut decoder = FrameDecoder::default();
        decoder.push(b"{\"message\":\"x\"}");
        assert!(decoder.next_message().is_err());
        let mut decoder = FrameDecoder::default();
        decoder.push(&[0, 0, 0, 3, 0, 0, 0, 0]);
        assert_eq!(decoder.next_message().unwrap_err(), FrameError::Invalid);
    }

    #[test]
    fn partial_message_waits() {
        let bytes = encode("messageStart", "{}");
        let mut decoder = FrameDecoder::default();
        decoder.push(&bytes[..bytes.len() - 1]);
        assert_eq!(decoder.next_message().unwrap(), None);
        assert!(decoder.has_partial());
    }
}
