//! WebP: walks the RIFF chunks, reads the `EXIF` chunk (with or without the `Exif\0\0` prefix older writers
//! leave in it) and seeks over the image data and frames.

use std::io::{Read, Seek};

use super::source::Source;
use super::{Found, MAX_TEXT_BYTES, exif};
use crate::error::Result;

/// Reads the EXIF chunk of the WebP in `src` into `found`.
pub(crate) fn read<R: Read + Seek>(src: &mut Source<R>, found: &mut Found) -> Result<()> {
    let mut head = [0u8; 12];
    src.read_exact(&mut head)?;
    if &head[0..4] != b"RIFF" || &head[8..12] != b"WEBP" {
        return Err(src.corrupt("not a WebP (no RIFF/WEBP header)"));
    }
    let riff = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if riff < 4 {
        return Err(src.corrupt("a WebP whose RIFF size is too small"));
    }
    // The chunks end where the RIFF size says (anything after it is not the image's).
    let end = 8 + u64::from(riff);
    let mut pos = 12u64;
    let mut exif_seen = false;
    while pos < end {
        if end - pos < 8 {
            return Err(src.corrupt("a WebP ends inside a chunk header: it is damaged"));
        }
        let mut ch = [0u8; 8];
        src.read_exact(&mut ch)?;
        let size = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]);
        let padded = u64::from(size) + u64::from(size & 1);
        if 8 + padded > end - pos {
            return Err(src.corrupt("a WebP chunk runs past the end of its RIFF container"));
        }
        if &ch[0..4] == b"EXIF" && !exif_seen {
            exif_seen = true;
            if size as usize > MAX_TEXT_BYTES {
                found.warnings.push(format!(
                    "the WebP EXIF chunk holds {size} bytes, more than the {MAX_TEXT_BYTES} read: left out"
                ));
                src.skip(u64::from(size))?;
            } else {
                let data = src.read_vec(size as usize)?;
                let tiff = data.strip_prefix(b"Exif\0\0").unwrap_or(&data);
                exif::take(tiff, found);
            }
            // The padding byte of the last chunk is sometimes missing.
            if size & 1 == 1 && src.remaining() > 0 {
                src.skip(1)?;
            }
        } else if pos + 8 + padded >= end && src.remaining() < padded {
            // The last chunk without its padding byte.
            src.skip(u64::from(size))?;
        } else {
            src.skip(padded)?;
        }
        pos += 8 + padded;
    }
    Ok(())
}
