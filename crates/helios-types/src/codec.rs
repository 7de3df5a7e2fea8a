//! The canonical binary encoding: object header, fixed-width little-endian
//! integers, length-prefixed byte strings. The only place bytes are laid out
//! for hashing; `spec/object-format.md` describes the same layout in prose.

use crate::error::DecodeError;
use crate::hash::{HASH_LEN, Hash};
use crate::object::ObjectKind;

/// Bytes in an object header: one kind tag and a `u64` payload length.
pub const HEADER_LEN: usize = 9;

/// The header every encoded object starts with. Because it is part of the
/// hash preimage, a blob can never hash like a tree of the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectHeader {
    /// What the payload encodes.
    pub kind: ObjectKind,
    /// Payload length in bytes.
    pub payload_len: u64,
}

impl ObjectHeader {
    /// The nine header bytes.
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = self.kind.tag();
        out[1..].copy_from_slice(&self.payload_len.to_le_bytes());
        out
    }

    /// Reads the header of an encoded object and checks that exactly
    /// `payload_len` bytes follow it. Returns the header and the payload.
    pub fn split(encoded: &[u8]) -> Result<(ObjectHeader, &[u8]), DecodeError> {
        let mut r = Reader::new(encoded);
        let tag = r.u8("object tag")?;
        let kind = ObjectKind::from_tag(tag).ok_or(DecodeError::UnknownTag(tag))?;
        let payload_len = r.u64("payload length")?;
        let payload = r.rest();
        if u64::try_from(payload.len()).ok() != Some(payload_len) {
            return Err(DecodeError::LengthMismatch {
                declared: payload_len,
                actual: payload.len(),
            });
        }
        Ok((ObjectHeader { kind, payload_len }, payload))
    }
}

/// Appends fields in the canonical layout into a caller's buffer.
#[derive(Debug)]
pub(crate) struct Writer<'b> {
    buf: &'b mut Vec<u8>,
}

impl<'b> Writer<'b> {
    /// Starts an object in `buf`, cleared first, leaving room for the
    /// header that [`Writer::finish`] fills in.
    pub(crate) fn new(buf: &'b mut Vec<u8>, capacity: usize) -> Self {
        buf.clear();
        buf.reserve(HEADER_LEN + capacity);
        buf.resize(HEADER_LEN, 0);
        Writer { buf }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn hash(&mut self, h: &[u8; HASH_LEN]) {
        self.buf.extend_from_slice(h);
    }

    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// A byte string with a `u32` length prefix.
    pub(crate) fn bytes32(&mut self, bytes: &[u8]) {
        self.u32(len_u32(bytes.len()));
        self.raw(bytes);
    }

    /// Writes the header for `kind`; the object is complete in the buffer.
    pub(crate) fn finish(self, kind: ObjectKind) {
        let payload_len = (self.buf.len() - HEADER_LEN) as u64;
        self.buf[..HEADER_LEN].copy_from_slice(&ObjectHeader { kind, payload_len }.to_bytes());
    }
}

/// A length that the format stores in 32 bits. Inputs beyond 4 GiB are a
/// programming error upstream (labels, metadata, entry counts), not data.
pub(crate) fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("field longer than 4 GiB cannot be encoded")
}

/// Reads fields in the canonical layout, reporting truncation precisely.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` inside the whole object, for error messages.
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// A reader over a payload that starts after the header.
    pub(crate) fn payload(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            base: HEADER_LEN,
        }
    }

    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let available = self.buf.len() - self.pos;
        if n > available {
            return Err(DecodeError::Truncated {
                field,
                offset: self.base + self.pos,
                needed: n,
                available,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, field)?;
        Ok(bytes.try_into().expect("take returned N bytes"))
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.array(field).map(u16::from_le_bytes)
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.array(field).map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.array(field).map(u64::from_le_bytes)
    }

    pub(crate) fn hash(&mut self, field: &'static str) -> Result<Hash, DecodeError> {
        self.array(field).map(Hash::from_bytes)
    }

    /// A byte string with a `u32` length prefix.
    pub(crate) fn bytes32(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(field)?;
        self.take(len as usize, field)
    }

    /// A UTF-8 string with a `u32` length prefix.
    pub(crate) fn str32(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes32(field)?).map_err(|_| DecodeError::NotUtf8(field))
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn end(&self) -> Result<(), DecodeError> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_checks_length() {
        let h = ObjectHeader {
            kind: ObjectKind::Blob,
            payload_len: 3,
        };
        let mut bytes = h.to_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        let (got, payload) = ObjectHeader::split(&bytes).unwrap();
        assert_eq!(got, h);
        assert_eq!(payload, b"abc");
        bytes.push(0);
        assert_eq!(
            ObjectHeader::split(&bytes),
            Err(DecodeError::LengthMismatch {
                declared: 3,
                actual: 4
            })
        );
        assert!(matches!(
            ObjectHeader::split(&[1, 0]),
            Err(DecodeError::Truncated { .. })
        ));
        assert_eq!(
            ObjectHeader::split(&[9; 9]),
            Err(DecodeError::UnknownTag(9))
        );
    }
}
