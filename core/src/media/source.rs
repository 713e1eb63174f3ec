//! A bounded reader over an image: it knows its length, so a length field pointing past the end is found
//! before anything is read or allocated, and it skips data (pixels) with seeks.

use std::io::{BufReader, Read, Seek, SeekFrom};

use crate::error::{Error, ErrorKind, Result};

/// An image being read: position, length and the name errors give it.
pub(crate) struct Source<R> {
    r: BufReader<R>,
    pos: u64,
    len: u64,
    name: String,
}

impl<R: Read + Seek> Source<R> {
    /// A source of `len` bytes at its start.
    pub fn new(r: R, len: u64, name: &str) -> Source<R> {
        Source { r: BufReader::with_capacity(16 << 10, r), pos: 0, len, name: name.to_string() }
    }

    /// The first 12 bytes (fewer for a smaller file), leaving the position at the start.
    pub fn peek_head(&mut self) -> Result<Vec<u8>> {
        let n = self.len.min(12) as usize;
        let mut head = vec![0u8; n];
        self.read_exact(&mut head)?;
        self.r.seek(SeekFrom::Start(0)).map_err(|e| self.io(&e))?;
        self.pos = 0;
        Ok(head)
    }

    /// Bytes left after the position.
    pub fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    /// Fills `buf`; `corrupt` when the file ends first.
    pub fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        if buf.len() as u64 > self.remaining() {
            return Err(self.truncated());
        }
        self.r.read_exact(buf).map_err(|e| self.io(&e))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    /// Reads `n` bytes into a new buffer; the caller has checked `n` against its limit.
    pub fn read_vec(&mut self, n: usize) -> Result<Vec<u8>> {
        if n as u64 > self.remaining() {
            return Err(self.truncated());
        }
        let mut v = vec![0u8; n];
        self.read_exact(&mut v)?;
        Ok(v)
    }

    /// A big-endian u16.
    pub fn u16_be(&mut self) -> Result<u16> {
        let mut b = [0u8; 2];
        self.read_exact(&mut b)?;
        Ok(u16::from_be_bytes(b))
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8> {
        let mut b = [0u8; 1];
        self.read_exact(&mut b)?;
        Ok(b[0])
    }

    /// Skips `n` bytes; `corrupt` when they are not all there.
    pub fn skip(&mut self, n: u64) -> Result<()> {
        if n > self.remaining() {
            return Err(self.truncated());
        }
        let step = i64::try_from(n).map_err(|_| self.truncated())?;
        self.r.seek_relative(step).map_err(|e| self.io(&e))?;
        self.pos += n;
        Ok(())
    }

    /// A `corrupt` error naming the file.
    pub fn corrupt(&self, what: &str) -> Error {
        Error::new(ErrorKind::Corrupt, format!("{}: {what}", self.name))
    }

    /// The error of a file that ends inside a structure.
    pub fn truncated(&self) -> Error {
        self.corrupt("the file ends early: it is truncated or damaged")
    }

    fn io(&self, e: &std::io::Error) -> Error {
        Error::new(ErrorKind::from_io(e), format!("cannot read {}: {e}", self.name))
    }
}
