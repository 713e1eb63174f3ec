//! The zip format, as much of it as backups need: a streaming writer (stored and deflated entries, Zip64 for
//! large files, far offsets and more than 65,535 entries) and a reader of the central directory that refuses
//! anything it cannot make sense of with a `corrupt` error, never a panic.
//!
//! Entries are written without data descriptors: a local header is written with zero sizes and patched when its
//! entry ends (the output is a file). Names are UTF-8 (flag bit 11); every entry carries the Unix mode (external
//! attributes, "made by" Unix) and an extended-timestamp field (`UT`, 0x5455) with its mtime, which Info-ZIP's
//! `unzip` restores.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::error::{Error, ErrorKind, Result};

use super::out::{HoleReader, SparseOut};

/// Compression method: stored.
pub const STORED: u16 = 0;
/// Compression method: deflated.
pub const DEFLATED: u16 = 8;

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const FLAG_UTF8: u16 = 1 << 11;
/// "Made by": Unix (3), specification 4.5.
const MADE_BY: u16 = (3 << 8) | 45;
/// `S_IFREG`.
pub const S_IFREG: u32 = 0o100_000;
/// `S_IFMT`.
pub const S_IFMT: u32 = 0o170_000;
/// `S_IFLNK`.
pub const S_IFLNK: u32 = 0o120_000;
/// Above this size an entry's local header reserves Zip64 sizes (a file may grow, deflate may expand a little).
pub const ZIP64_THRESHOLD: u64 = 0xF000_0000;
const MAX32: u64 = 0xFFFF_FFFF;

fn corrupt(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Corrupt, msg)
}

/// MS-DOS date and time (UTC; the `UT` field has the exact second).
fn dos_time(mtime: i64) -> (u16, u16) {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::from_timestamp(mtime, 0).unwrap_or_default();
    if t.year() < 1980 {
        return (0, (1 << 5) | 1);
    }
    if t.year() > 2107 {
        return ((23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31);
    }
    let time = (t.hour() << 11) | (t.minute() << 5) | (t.second() / 2);
    let date = (((t.year() - 1980) as u32) << 9) | (t.month() << 5) | t.day();
    (time as u16, date as u16)
}

fn ut_field(v: &mut Vec<u8>, mtime: i64) {
    if let Ok(t) = u32::try_from(mtime)
        && t <= i32::MAX as u32
    {
        v.extend_from_slice(&0x5455u16.to_le_bytes());
        v.extend_from_slice(&5u16.to_le_bytes());
        v.push(1);
        v.extend_from_slice(&t.to_le_bytes());
    }
}

/// What the central directory needs of an entry written.
struct Record {
    name: String,
    method: u16,
    crc: u32,
    csize: u64,
    size: u64,
    offset: u64,
    mtime: i64,
    mode: u32,
    zip64_local: bool,
}

/// An entry begun by [`ZipWriter::begin`], to be ended by [`ZipWriter::end`].
pub struct Pending {
    index: usize,
    data_start: u64,
}

/// Writes an archive into a new file.
pub struct ZipWriter<'a> {
    out: SparseOut<'a>,
    records: Vec<Record>,
}

fn local_header(r: &Record) -> Vec<u8> {
    let mut v = Vec::with_capacity(30 + r.name.len() + 30);
    let (time, date) = dos_time(r.mtime);
    v.extend_from_slice(&LOCAL_SIG.to_le_bytes());
    v.extend_from_slice(&(if r.zip64_local { 45u16 } else { 20u16 }).to_le_bytes());
    v.extend_from_slice(&FLAG_UTF8.to_le_bytes());
    v.extend_from_slice(&r.method.to_le_bytes());
    v.extend_from_slice(&time.to_le_bytes());
    v.extend_from_slice(&date.to_le_bytes());
    v.extend_from_slice(&r.crc.to_le_bytes());
    let (c, s) =
        if r.zip64_local { (MAX32 as u32, MAX32 as u32) } else { (r.csize as u32, r.size as u32) };
    v.extend_from_slice(&c.to_le_bytes());
    v.extend_from_slice(&s.to_le_bytes());
    v.extend_from_slice(&(r.name.len() as u16).to_le_bytes());
    let mut extra = Vec::new();
    if r.zip64_local {
        extra.extend_from_slice(&1u16.to_le_bytes());
        extra.extend_from_slice(&16u16.to_le_bytes());
        extra.extend_from_slice(&r.size.to_le_bytes());
        extra.extend_from_slice(&r.csize.to_le_bytes());
    }
    ut_field(&mut extra, r.mtime);
    v.extend_from_slice(&(extra.len() as u16).to_le_bytes());
    v.extend_from_slice(r.name.as_bytes());
    v.extend_from_slice(&extra);
    v
}

fn central_header(r: &Record, v: &mut Vec<u8>) {
    let (time, date) = dos_time(r.mtime);
    let mut z64 = Vec::new();
    let mut field = |x: u64| {
        if x >= MAX32 {
            z64.extend_from_slice(&x.to_le_bytes());
            MAX32 as u32
        } else {
            x as u32
        }
    };
    let size = field(r.size);
    let csize = field(r.csize);
    let offset = field(r.offset);
    let mut extra = Vec::new();
    if !z64.is_empty() {
        extra.extend_from_slice(&1u16.to_le_bytes());
        extra.extend_from_slice(&(z64.len() as u16).to_le_bytes());
        extra.extend_from_slice(&z64);
    }
    ut_field(&mut extra, r.mtime);
    let needed: u16 = if !z64.is_empty() || r.zip64_local { 45 } else { 20 };
    v.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
    v.extend_from_slice(&MADE_BY.to_le_bytes());
    v.extend_from_slice(&needed.to_le_bytes());
    v.extend_from_slice(&FLAG_UTF8.to_le_bytes());
    v.extend_from_slice(&r.method.to_le_bytes());
    v.extend_from_slice(&time.to_le_bytes());
    v.extend_from_slice(&date.to_le_bytes());
    v.extend_from_slice(&r.crc.to_le_bytes());
    v.extend_from_slice(&csize.to_le_bytes());
    v.extend_from_slice(&size.to_le_bytes());
    v.extend_from_slice(&(r.name.len() as u16).to_le_bytes());
    v.extend_from_slice(&(extra.len() as u16).to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes()); // comment
    v.extend_from_slice(&0u16.to_le_bytes()); // disk
    v.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
    v.extend_from_slice(&((S_IFREG | (r.mode & 0o7777)) << 16).to_le_bytes());
    v.extend_from_slice(&offset.to_le_bytes());
    v.extend_from_slice(r.name.as_bytes());
    v.extend_from_slice(&extra);
}

impl<'a> ZipWriter<'a> {
    /// A writer into `file` (new and empty).
    pub fn new(file: &'a File) -> ZipWriter<'a> {
        ZipWriter { out: SparseOut::new(file), records: Vec::new() }
    }

    fn check_name(name: &str) -> io::Result<()> {
        if name.len() > u16::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an entry name longer than 65,535 bytes",
            ));
        }
        Ok(())
    }

    /// Writes a whole entry whose data (`data`, already compressed for `method`) and checksum are known.
    #[allow(clippy::too_many_arguments)]
    pub fn whole(
        &mut self,
        name: &str,
        method: u16,
        mtime: i64,
        mode: u32,
        crc: u32,
        size: u64,
        data: &[u8],
    ) -> io::Result<()> {
        Self::check_name(name)?;
        let r = Record {
            name: name.to_string(),
            method,
            crc,
            csize: data.len() as u64,
            size,
            offset: self.out.position(),
            mtime,
            mode,
            zip64_local: size >= ZIP64_THRESHOLD || data.len() as u64 >= ZIP64_THRESHOLD,
        };
        let h = local_header(&r);
        self.out.write(&h)?;
        self.out.write(data)?;
        self.records.push(r);
        Ok(())
    }

    /// Begins an entry whose size is not known yet; `large` reserves Zip64 sizes in its local header (needed when
    /// it may reach 4 GiB).
    pub fn begin(
        &mut self,
        name: &str,
        method: u16,
        mtime: i64,
        mode: u32,
        large: bool,
    ) -> io::Result<Pending> {
        Self::check_name(name)?;
        let r = Record {
            name: name.to_string(),
            method,
            crc: 0,
            csize: 0,
            size: 0,
            offset: self.out.position(),
            mtime,
            mode,
            zip64_local: large,
        };
        let h = local_header(&r);
        self.out.write(&h)?;
        self.records.push(r);
        Ok(Pending { index: self.records.len() - 1, data_start: self.out.position() })
    }

    /// Appends data of the entry begun last.
    pub fn data(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write(data)
    }

    /// Ends the entry begun last: patches its local header with the checksum and sizes.
    pub fn end(&mut self, p: Pending, crc: u32, size: u64) -> io::Result<()> {
        let csize = self.out.position() - p.data_start;
        let r = &mut self.records[p.index];
        if !r.zip64_local && (size >= MAX32 || csize >= MAX32) {
            return Err(io::Error::other(format!(
                "{} grew past 4 GiB while it was being archived",
                r.name
            )));
        }
        r.crc = crc;
        r.size = size;
        r.csize = csize;
        let h = local_header(r);
        let at = r.offset;
        self.out.patch(at, &h)
    }

    /// Writes the central directory and its end records (Zip64 ones when needed) and returns the archive's size.
    pub fn finish(mut self) -> io::Result<u64> {
        let cd_offset = self.out.position();
        let mut v = Vec::with_capacity(64 << 10);
        for r in &self.records {
            central_header(r, &mut v);
            if v.len() >= 60 << 10 {
                self.out.write(&v)?;
                v.clear();
            }
        }
        self.out.write(&v)?;
        v.clear();
        let cd_end = self.out.position();
        let cd_size = cd_end - cd_offset;
        let count = self.records.len() as u64;
        let zip64 = count >= 0xFFFF || cd_size >= MAX32 || cd_offset >= MAX32;
        if zip64 {
            v.extend_from_slice(&ZIP64_EOCD_SIG.to_le_bytes());
            v.extend_from_slice(&44u64.to_le_bytes());
            v.extend_from_slice(&MADE_BY.to_le_bytes());
            v.extend_from_slice(&45u16.to_le_bytes());
            v.extend_from_slice(&0u32.to_le_bytes());
            v.extend_from_slice(&0u32.to_le_bytes());
            v.extend_from_slice(&count.to_le_bytes());
            v.extend_from_slice(&count.to_le_bytes());
            v.extend_from_slice(&cd_size.to_le_bytes());
            v.extend_from_slice(&cd_offset.to_le_bytes());
            v.extend_from_slice(&ZIP64_LOCATOR_SIG.to_le_bytes());
            v.extend_from_slice(&0u32.to_le_bytes());
            v.extend_from_slice(&cd_end.to_le_bytes());
            v.extend_from_slice(&1u32.to_le_bytes());
        }
        let n16 = count.min(0xFFFF) as u16;
        v.extend_from_slice(&EOCD_SIG.to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(&n16.to_le_bytes());
        v.extend_from_slice(&n16.to_le_bytes());
        v.extend_from_slice(&(cd_size.min(MAX32) as u32).to_le_bytes());
        v.extend_from_slice(&(cd_offset.min(MAX32) as u32).to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes());
        self.out.write(&v)?;
        self.out.finish()?;
        Ok(self.out.position())
    }
}

/// An entry of the central directory.
#[derive(Debug, Clone)]
pub struct ZipEntry {
    /// The name (lossily decoded when it is not UTF-8: see `name_utf8`).
    pub name: String,
    /// Whether the stored name is valid UTF-8.
    pub name_utf8: bool,
    /// General-purpose flags.
    pub flags: u16,
    /// Compression method.
    pub method: u16,
    /// CRC-32 of the data.
    pub crc: u32,
    /// Compressed size.
    pub csize: u64,
    /// Uncompressed size.
    pub size: u64,
    /// Offset of the local header.
    pub offset: u64,
    /// External attributes (the Unix mode in the upper 16 bits).
    pub external: u32,
}

impl ZipEntry {
    /// Whether the external attributes say symbolic link.
    pub fn is_symlink(&self) -> bool {
        (self.external >> 16) & S_IFMT == S_IFLNK
    }

    /// Whether the entry is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.flags & 1 != 0
    }
}

/// A little-endian cursor over bytes that never reads past its end.
struct Cur<'b> {
    b: &'b [u8],
    at: usize,
}

impl<'b> Cur<'b> {
    fn new(b: &'b [u8]) -> Cur<'b> {
        Cur { b, at: 0 }
    }
    fn take(&mut self, n: usize) -> Result<&'b [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| corrupt("a zip record is cut short"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
}

/// An archive open for reading: its central directory parsed.
pub struct ZipReader {
    file: File,
    /// The entries, in central-directory order.
    pub entries: Vec<ZipEntry>,
    cd_offset: u64,
}

fn read_at(file: &File, buf: &mut [u8], at: u64) -> Result<()> {
    file.read_exact_at(buf, at).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            corrupt("the archive ends early")
        } else {
            Error::io(&e, "cannot read", "the archive")
        }
    })
}

impl ZipReader {
    /// Reads the central directory of `file`.
    pub fn new(file: File) -> Result<ZipReader> {
        let len = file.metadata().map_err(|e| Error::io(&e, "cannot stat", "the archive"))?.len();
        if len < 22 {
            return Err(corrupt("not a zip archive (too short for an end record)"));
        }
        // The end record is in the last 22 + 65,535 bytes.
        let tail_len = len.min(22 + 0xFFFF) as usize;
        let tail_at = len - tail_len as u64;
        let mut tail = vec![0u8; tail_len];
        read_at(&file, &mut tail, tail_at)?;
        let eocd = (0..=tail_len - 22)
            .rev()
            .find(|&i| {
                tail[i..i + 4] == EOCD_SIG.to_le_bytes() && {
                    let comment = u16::from_le_bytes([tail[i + 20], tail[i + 21]]) as usize;
                    i + 22 + comment == tail_len
                }
            })
            .ok_or_else(|| corrupt("not a zip archive (no end record)"))?;
        let eocd_at = tail_at + eocd as u64;
        let mut c = Cur::new(&tail[eocd + 4..eocd + 22]);
        let disk = c.u16()?;
        let cd_disk = c.u16()?;
        let n_disk = c.u16()? as u64;
        let mut count = c.u16()? as u64;
        let mut cd_size = c.u32()? as u64;
        let mut cd_offset = c.u32()? as u64;
        if disk != 0 || cd_disk != 0 || n_disk != count {
            return Err(corrupt("a multi-disk archive"));
        }
        let mut cd_end_limit = eocd_at;
        if eocd_at >= 20 {
            let mut loc = [0u8; 20];
            read_at(&file, &mut loc, eocd_at - 20)?;
            if loc[..4] == ZIP64_LOCATOR_SIG.to_le_bytes() {
                let mut c = Cur::new(&loc[4..]);
                let _disk = c.u32()?;
                let z_at = c.u64()?;
                if z_at.checked_add(56).is_none_or(|e| e > eocd_at - 20) {
                    return Err(corrupt("the Zip64 end record is out of bounds"));
                }
                let mut z = [0u8; 56];
                read_at(&file, &mut z, z_at)?;
                let mut c = Cur::new(&z);
                if c.u32()? != ZIP64_EOCD_SIG {
                    return Err(corrupt("no Zip64 end record where the locator points"));
                }
                let _size = c.u64()?;
                let _made = c.u16()?;
                let _needed = c.u16()?;
                let (d, cd) = (c.u32()?, c.u32()?);
                let n_disk = c.u64()?;
                count = c.u64()?;
                cd_size = c.u64()?;
                cd_offset = c.u64()?;
                if d != 0 || cd != 0 || n_disk != count {
                    return Err(corrupt("a multi-disk archive"));
                }
                cd_end_limit = z_at;
            }
        }
        let cd_end = cd_offset.checked_add(cd_size).filter(|&e| e <= cd_end_limit);
        if cd_end.is_none() {
            return Err(corrupt("the central directory is out of bounds"));
        }
        // A central header is at least 46 bytes: a count that cannot fit is refused before anything is allocated.
        if count.saturating_mul(46) > cd_size {
            return Err(corrupt("the central directory is shorter than its entry count"));
        }
        let cd_len =
            usize::try_from(cd_size).map_err(|_| corrupt("the central directory is too large"))?;
        let mut cd = vec![0u8; cd_len];
        read_at(&file, &mut cd, cd_offset)?;
        let mut c = Cur::new(&cd);
        let mut entries = Vec::with_capacity(count as usize);
        for _ in 0..count {
            if c.u32()? != CENTRAL_SIG {
                return Err(corrupt("a central-directory record has a bad signature"));
            }
            let _made = c.u16()?;
            let _needed = c.u16()?;
            let flags = c.u16()?;
            let method = c.u16()?;
            let _time = c.u16()?;
            let _date = c.u16()?;
            let crc = c.u32()?;
            let mut csize = c.u32()? as u64;
            let mut size = c.u32()? as u64;
            let name_len = c.u16()? as usize;
            let extra_len = c.u16()? as usize;
            let comment_len = c.u16()? as usize;
            let disk = c.u16()?;
            let _internal = c.u16()?;
            let external = c.u32()?;
            let mut offset = c.u32()? as u64;
            let name_raw = c.take(name_len)?;
            let extra = c.take(extra_len)?;
            c.take(comment_len)?;
            let mut x = Cur::new(extra);
            while x.b.len() - x.at >= 4 {
                let id = x.u16()?;
                let n = x.u16()? as usize;
                let body = x.take(n)?;
                if id == 1 {
                    let mut z = Cur::new(body);
                    if size == MAX32 {
                        size = z.u64()?;
                    }
                    if csize == MAX32 {
                        csize = z.u64()?;
                    }
                    if offset == MAX32 {
                        offset = z.u64()?;
                    }
                }
            }
            if disk != 0 && disk != 0xFFFF {
                return Err(corrupt("a multi-disk archive"));
            }
            let (name, name_utf8) = match std::str::from_utf8(name_raw) {
                Ok(s) => (s.to_string(), true),
                Err(_) => (String::from_utf8_lossy(name_raw).into_owned(), false),
            };
            entries.push(ZipEntry {
                name,
                name_utf8,
                flags,
                method,
                crc,
                csize,
                size,
                offset,
                external,
            });
        }
        Ok(ZipReader { file, entries, cd_offset })
    }

    /// Reads the local header of `e` and returns where its data starts; `corrupt` when the header does not match
    /// the central directory or the data does not fit before it.
    pub fn data_start(&self, e: &ZipEntry) -> Result<u64> {
        let bad = |why: &str| corrupt(format!("entry {:?}: {why}", e.name));
        let mut h = [0u8; 30];
        if e.offset.checked_add(30).is_none_or(|end| end > self.cd_offset) {
            return Err(bad("its local header is out of bounds"));
        }
        read_at(&self.file, &mut h, e.offset)?;
        let mut c = Cur::new(&h);
        if c.u32()? != LOCAL_SIG {
            return Err(bad("no local header at its offset"));
        }
        let _needed = c.u16()?;
        let _flags = c.u16()?;
        let method = c.u16()?;
        c.take(16)?; // time, date, CRC-32 and sizes: the central directory's are used
        let name_len = c.u16()? as u64;
        let extra_len = c.u16()? as u64;
        if method != e.method {
            return Err(bad("its local header has another compression method"));
        }
        let start = e.offset + 30 + name_len + extra_len;
        if start.checked_add(e.csize).is_none_or(|end| end > self.cd_offset) {
            return Err(bad("its data is out of bounds"));
        }
        let mut name = vec![0u8; name_len as usize];
        read_at(&self.file, &mut name, e.offset + 30)?;
        if name != e.name.as_bytes() && e.name_utf8 {
            return Err(bad("its local header names another file"));
        }
        Ok(start)
    }

    /// Streams the data of `e` (stored or deflated) to `sink` in pieces of at most `buf`'s capacity, refusing
    /// more than `limit` bytes, and checks the CRC-32 and size of the central directory. Returns the size.
    pub fn stream(
        &self,
        e: &ZipEntry,
        limit: u64,
        buf: &mut Vec<u8>,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<u64> {
        let start = self.data_start(e)?;
        let bad = |why: String| corrupt(format!("entry {:?}: {why}", e.name));
        let mut crc = crc32fast::Hasher::new();
        let mut total = 0u64;
        let cap = buf.capacity().max(64 << 10);
        buf.clear();
        buf.resize(cap, 0);
        match e.method {
            STORED => {
                if e.csize > limit {
                    return Err(bad(format!("{} bytes where {limit} are recorded", e.csize)));
                }
                let end = start + e.csize;
                let mut r = HoleReader::new(&self.file, start, Some(end), e.csize >= 1 << 20);
                while total < e.csize {
                    let n =
                        r.read(buf).map_err(|err| Error::io(&err, "cannot read", "the archive"))?;
                    if n == 0 {
                        return Err(corrupt("the archive ends early"));
                    }
                    crc.update(&buf[..n]);
                    sink(&buf[..n])?;
                    total += n as u64;
                }
            }
            DEFLATED => {
                let mut z = flate2::Decompress::new(false);
                let mut input = vec![0u8; (256 << 10).min(e.csize.max(1) as usize)];
                let (mut in_at, in_end) = (start, start + e.csize);
                let (mut lo, mut hi) = (0usize, 0usize);
                let mut out_len = 0usize;
                loop {
                    if lo == hi && in_at < in_end {
                        let n = ((in_end - in_at) as usize).min(input.len());
                        read_at(&self.file, &mut input[..n], in_at)?;
                        in_at += n as u64;
                        (lo, hi) = (0, n);
                    }
                    let (before_in, before_out) = (z.total_in(), z.total_out());
                    let status = z
                        .decompress(
                            &input[lo..hi],
                            &mut buf[out_len..],
                            flate2::FlushDecompress::None,
                        )
                        .map_err(|err| bad(format!("bad deflate data: {err}")))?;
                    lo += (z.total_in() - before_in) as usize;
                    out_len += (z.total_out() - before_out) as usize;
                    let done = status == flate2::Status::StreamEnd;
                    if out_len == buf.len() || (done && out_len > 0) {
                        total += out_len as u64;
                        if total > limit {
                            return Err(bad(format!("more data than the {limit} bytes recorded")));
                        }
                        crc.update(&buf[..out_len]);
                        sink(&buf[..out_len])?;
                        out_len = 0;
                    }
                    if done {
                        break;
                    }
                    let progressed = z.total_in() != before_in || z.total_out() != before_out;
                    if !progressed && lo == hi && in_at >= in_end {
                        return Err(bad("the deflate data ends early".to_string()));
                    }
                }
            }
            m => return Err(bad(format!("compression method {m} is not supported"))),
        }
        if total != e.size {
            return Err(bad(format!("{total} bytes where the central directory says {}", e.size)));
        }
        if crc.finalize() != e.crc {
            return Err(bad("its CRC-32 does not match".to_string()));
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(entries: &[(&str, &[u8])]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.zip");
        let f = File::create_new(&p).unwrap();
        let mut w = ZipWriter::new(&f);
        for (i, (name, data)) in entries.iter().enumerate() {
            let crc = crc32fast::hash(data);
            if i % 2 == 0 {
                w.whole(name, STORED, 1_700_000_000, 0o644, crc, data.len() as u64, data).unwrap();
            } else {
                let mut c = flate2::Compress::new(flate2::Compression::new(6), false);
                let mut out = Vec::with_capacity(data.len() + 128);
                c.compress_vec(data, &mut out, flate2::FlushCompress::Finish).unwrap();
                let p = w.begin(name, DEFLATED, 1_700_000_000, 0o600, false).unwrap();
                w.data(&out).unwrap();
                w.end(p, crc, data.len() as u64).unwrap();
            }
        }
        w.finish().unwrap();
        (dir, p)
    }

    #[test]
    fn what_is_written_reads_back() {
        let text = b"hello hello hello hello".repeat(100);
        let (_d, p) = build(&[("a.txt", b"abc"), ("b/c.txt", &text), ("empty", b""), ("d", &text)]);
        let r = ZipReader::new(File::open(&p).unwrap()).unwrap();
        assert_eq!(r.entries.len(), 4);
        let mut buf = Vec::with_capacity(1 << 16);
        for (e, want) in r.entries.iter().zip([&b"abc"[..], &text, b"", &text]) {
            let mut got = Vec::new();
            r.stream(e, want.len() as u64, &mut buf, &mut |b| {
                got.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
            assert_eq!(got, want, "{}", e.name);
        }
        assert_eq!(r.entries[1].method, DEFLATED);
        assert_eq!(r.entries[1].external >> 16, S_IFREG | 0o600);
        // Over the limit: refused.
        let e = &r.entries[1];
        let err = r.stream(e, 10, &mut buf, &mut |_| Ok(())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt);
    }

    #[test]
    fn every_truncation_and_flipped_byte_is_an_error_or_a_checked_read() {
        let text = b"some text to deflate, some text to deflate".repeat(20);
        let (_d, p) = build(&[("a.txt", b"abc"), ("b.txt", &text)]);
        let whole = std::fs::read(&p).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("x.zip");
        for cut in 0..whole.len() {
            std::fs::write(&q, &whole[..cut]).unwrap();
            assert!(ZipReader::new(File::open(&q).unwrap()).is_err(), "cut at {cut}");
        }
        for i in 0..whole.len() {
            let mut b = whole.clone();
            b[i] ^= 0x5a;
            std::fs::write(&q, &b).unwrap();
            if let Ok(r) = ZipReader::new(File::open(&q).unwrap()) {
                let mut buf = Vec::with_capacity(4096);
                for e in &r.entries {
                    let _ = r.stream(e, 1 << 20, &mut buf, &mut |_| Ok(()));
                }
            }
        }
    }
}
