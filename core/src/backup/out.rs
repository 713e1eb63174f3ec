//! A buffered file writer that leaves 64 KiB-aligned blocks of zeros as holes: used for the archive being written
//! and for every restored file, so that a sparse file stays sparse (the file's bytes are the same either way).

use std::fs::File;
use std::io;

/// The block a hole is made of.
pub const BLOCK: usize = 64 << 10;
/// How much is gathered before a write.
const BUF: usize = 16 * BLOCK;

static ZEROS: [u8; BLOCK] = [0; BLOCK];

fn is_zero(b: &[u8]) -> bool {
    // A comparison with a block of zeros is a `memcmp`: fast whatever the optimisation level.
    b == &ZEROS[..b.len()]
}

/// Writes at increasing offsets of a file, skipping aligned zero blocks; [`SparseOut::finish`] sets the length.
pub struct SparseOut<'a> {
    file: &'a File,
    /// The offset of `buf[0]`: always a multiple of [`BLOCK`] (the buffer is written out only when full).
    pos: u64,
    buf: Vec<u8>,
    /// Bytes written so far (holes included): `pos + buf.len()`.
    len: u64,
}

impl<'a> SparseOut<'a> {
    /// A writer at offset 0 of `file`, which must be new or empty.
    pub fn new(file: &'a File) -> SparseOut<'a> {
        SparseOut { file, pos: 0, buf: Vec::with_capacity(BUF), len: 0 }
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.len
    }

    /// Appends `data`.
    pub fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        self.len += data.len() as u64;
        if self.buf.is_empty() && self.pos.is_multiple_of(BLOCK as u64) && data.len() >= BLOCK {
            // Whole blocks straight from the caller's buffer (no copy).
            let whole = data.len() / BLOCK * BLOCK;
            self.emit(&data[..whole])?;
            data = &data[whole..];
        }
        while !data.is_empty() {
            let room = BUF - self.buf.len();
            let n = room.min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == BUF {
                let buf = std::mem::take(&mut self.buf);
                let r = self.emit(&buf);
                self.buf = buf;
                self.buf.clear();
                r?;
            }
        }
        Ok(())
    }

    /// Writes `data` at `self.pos` (a block boundary when `data` is longer than a block), holes for zero blocks.
    fn emit(&mut self, data: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let aligned = self.pos.is_multiple_of(BLOCK as u64);
        let mut run_start = 0;
        let mut i = 0;
        while i < data.len() {
            let end = (i + BLOCK).min(data.len());
            let hole = aligned && end - i == BLOCK && is_zero(&data[i..end]);
            if hole {
                if run_start < i {
                    self.file.write_all_at(&data[run_start..i], self.pos + run_start as u64)?;
                }
                run_start = end;
            }
            i = end;
        }
        if run_start < data.len() {
            self.file.write_all_at(&data[run_start..], self.pos + run_start as u64)?;
        }
        self.pos += data.len() as u64;
        Ok(())
    }

    /// Writes what is buffered (a trailing partial block of zeros stays a hole) and sets the file's length.
    pub fn finish(&mut self) -> io::Result<()> {
        let buf = std::mem::take(&mut self.buf);
        let tail = buf.len() % BLOCK;
        let (whole, rest) = buf.split_at(buf.len() - tail);
        let r = self.emit(whole).and_then(|()| {
            if !rest.is_empty() && !is_zero(rest) {
                use std::os::unix::fs::FileExt;
                self.file.write_all_at(rest, self.pos)?;
            }
            self.pos += rest.len() as u64;
            Ok(())
        });
        self.buf = buf;
        self.buf.clear();
        r?;
        self.file.set_len(self.len)
    }

    /// Patches bytes already written (headers whose sizes are known at the end of their entry); `at + data.len()`
    /// must not pass what is written.
    pub fn patch(&mut self, at: u64, data: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let end = at + data.len() as u64;
        if end > self.len {
            return Err(io::Error::other("patch past the end"));
        }
        // The part already in the file, then the part still buffered.
        if at < self.pos {
            let n = (self.pos - at).min(data.len() as u64) as usize;
            self.file.write_all_at(&data[..n], at)?;
        }
        if end > self.pos {
            let from = at.max(self.pos);
            let src = (from - at) as usize;
            let dst = (from - self.pos) as usize;
            self.buf[dst..dst + (data.len() - src)].copy_from_slice(&data[src..]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn roundtrip(pieces: &[Vec<u8>]) -> (Vec<u8>, u64) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let f = File::create(&p).unwrap();
        let mut w = SparseOut::new(&f);
        for piece in pieces {
            w.write(piece).unwrap();
        }
        w.finish().unwrap();
        drop(f);
        let mut got = Vec::new();
        File::open(&p).unwrap().read_to_end(&mut got).unwrap();
        use std::os::unix::fs::MetadataExt;
        (got, std::fs::metadata(&p).unwrap().blocks() * 512)
    }

    #[test]
    fn bytes_are_kept_and_zero_blocks_become_holes() {
        let mut a = vec![0u8; 10 * BLOCK + 123];
        a[5] = 1;
        a[3 * BLOCK + 7] = 2;
        a[10 * BLOCK + 100] = 3;
        for split in [1usize, 7, BLOCK - 1, BLOCK, BLOCK + 3, 5 * BLOCK, a.len()] {
            let pieces: Vec<Vec<u8>> = a.chunks(split).map(|c| c.to_vec()).collect();
            let (got, _) = roundtrip(&pieces);
            assert_eq!(got, a, "split {split}");
        }
        let big = vec![0u8; 64 * BLOCK];
        let (got, blocks) = roundtrip(std::slice::from_ref(&big));
        assert_eq!(got, big);
        assert!(blocks < (BLOCK as u64), "{blocks}");
    }

    #[test]
    fn patches_reach_the_file_and_the_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let f = File::create(&p).unwrap();
        let mut w = SparseOut::new(&f);
        let data: Vec<u8> = (0..(BUF + 1000)).map(|i| (i % 251) as u8 + 1).collect();
        w.write(&data).unwrap();
        w.patch(BUF as u64 - 2, b"abcd").unwrap();
        w.patch(0, b"zz").unwrap();
        assert!(w.patch(data.len() as u64 - 1, b"xy").is_err());
        w.finish().unwrap();
        let mut want = data.clone();
        want[BUF - 2..BUF + 2].copy_from_slice(b"abcd");
        want[..2].copy_from_slice(b"zz");
        assert_eq!(std::fs::read(&p).unwrap(), want);
    }
}

/// The data run at or after `at`: (where its data starts, where the hole after it starts), or None when only a
/// hole follows. Where the file system cannot tell, everything is data.
#[cfg(target_os = "linux")]
fn data_run(file: &File, at: u64) -> io::Result<Option<(u64, u64)>> {
    use std::os::fd::AsRawFd;
    let Ok(off) = libc::off_t::try_from(at) else { return Ok(Some((at, u64::MAX))) };
    // SAFETY: `file` is an open descriptor; lseek reads no memory of ours. The descriptor's offset moves, which
    // nothing here relies on (every read is a pread).
    let data = unsafe { libc::lseek(file.as_raw_fd(), off, libc::SEEK_DATA) };
    if data < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENXIO) => Ok(None),
            _ => Ok(Some((at, u64::MAX))),
        };
    }
    // SAFETY: as above.
    let hole = unsafe { libc::lseek(file.as_raw_fd(), data, libc::SEEK_HOLE) };
    if hole < 0 {
        return Ok(Some((data as u64, u64::MAX)));
    }
    Ok(Some((data as u64, hole as u64)))
}

#[cfg(not(target_os = "linux"))]
fn data_run(_file: &File, at: u64) -> io::Result<Option<(u64, u64)>> {
    Ok(Some((at, u64::MAX)))
}

/// Reads a file from an offset with `pread`, to `end` or to its end, handing out zeros for the holes of a sparse
/// file instead of reading them (reading a hole makes the kernel fill page after page of zeros).
pub struct HoleReader<'a> {
    file: &'a File,
    pos: u64,
    end: Option<u64>,
    /// The data run known around `pos` (see [`data_run`]); None: to be asked.
    run: Option<(u64, u64)>,
    skip_holes: bool,
}

impl<'a> HoleReader<'a> {
    /// A reader of `file` from `pos` to `end` (or its end); `skip_holes` asks the file system where its holes
    /// are (worth it for large files only: two `lseek`s per data run).
    pub fn new(file: &'a File, pos: u64, end: Option<u64>, skip_holes: bool) -> HoleReader<'a> {
        HoleReader { file, pos, end, run: None, skip_holes }
    }

    /// Reads into `buf`; 0 at the end.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut n = buf.len();
        if let Some(end) = self.end {
            n = n.min(end.saturating_sub(self.pos) as usize);
        }
        if n == 0 {
            return Ok(0);
        }
        if self.skip_holes {
            if self.run.is_none_or(|(_, hole)| self.pos >= hole) {
                self.run = Some(match data_run(self.file, self.pos)? {
                    Some(r) => r,
                    None => {
                        let len = self.file.metadata()?.len().max(self.pos);
                        (len, len)
                    }
                });
            }
            let (data, hole) = self.run.unwrap_or((self.pos, u64::MAX));
            if self.pos < data {
                let k = n.min((data - self.pos).min(usize::MAX as u64) as usize);
                buf[..k].fill(0);
                self.pos += k as u64;
                return Ok(k);
            }
            if self.pos >= hole {
                // Only a hole up to the end of the file, and the end reached.
                return Ok(0);
            }
            n = n.min((hole - self.pos).min(usize::MAX as u64) as usize);
        }
        loop {
            match self.file.read_at(&mut buf[..n], self.pos) {
                Ok(k) => {
                    self.pos += k as u64;
                    return Ok(k);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod hole_tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn holes_read_as_zeros_and_data_as_itself() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let f = File::create(&p).unwrap();
        let len = 64u64 << 20;
        f.set_len(len).unwrap();
        f.write_all_at(b"start", 0).unwrap();
        f.write_all_at(b"middle", 30 << 20).unwrap();
        f.write_all_at(b"end", len - 3).unwrap();
        drop(f);
        let f = File::open(&p).unwrap();
        for (from, end) in
            [(0, None), (7, Some(len - 1)), (30 << 20, Some((30 << 20) + 3)), (len, None)]
        {
            let want: Vec<u8> = {
                let all = std::fs::read(&p).unwrap();
                all[from as usize..end.unwrap_or(len) as usize].to_vec()
            };
            let mut r = HoleReader::new(&f, from, end, true);
            let mut got = Vec::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = r.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert!(got == want, "from {from} to {end:?}");
        }
    }
}
