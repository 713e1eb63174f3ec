//! JPEG: walks the marker segments up to the first scan (SOS), reads the first `Exif` APP1 segment and the
//! first comment (COM), and skips the rest.

use std::io::{Read, Seek};

use super::Found;
use super::exif;
use super::source::Source;
use crate::error::Result;

/// Reads the metadata segments of the JPEG in `src` into `found`.
pub(crate) fn read<R: Read + Seek>(src: &mut Source<R>, found: &mut Found) -> Result<()> {
    if src.u16_be()? != 0xFFD8 {
        return Err(src.corrupt("not a JPEG (no SOI marker)"));
    }
    let mut exif_seen = false;
    let mut comment: Option<String> = None;
    let walked = (|| -> Result<()> {
        loop {
            if src.u8()? != 0xFF {
                return Err(
                    src.corrupt("a JPEG segment does not start with a marker: the file is damaged")
                );
            }
            let mut marker = src.u8()?;
            // Fill bytes.
            while marker == 0xFF {
                marker = src.u8()?;
            }
            match marker {
                // Markers without a length.
                0x01 | 0xD0..=0xD8 => continue,
                // End of image, start of scan: no metadata after these.
                0xD9 | 0xDA => return Ok(()),
                0x00 => return Err(src.corrupt("a JPEG has a stray 0xFF00 among its segments")),
                _ => {}
            }
            let len = src.u16_be()?;
            let Some(body) = len.checked_sub(2) else {
                return Err(src.corrupt("a JPEG segment is shorter than its own length field"));
            };
            match marker {
                0xE1 if !exif_seen => {
                    let data = src.read_vec(usize::from(body))?;
                    if let Some(tiff) = data.strip_prefix(b"Exif\0\0") {
                        exif_seen = true;
                        exif::take(tiff, found);
                    }
                }
                0xFE if comment.is_none() => {
                    let data = src.read_vec(usize::from(body))?;
                    comment = Some(String::from_utf8_lossy(&data).into_owned());
                }
                _ => src.skip(u64::from(body))?,
            }
        }
    })();
    if let Some(c) = comment {
        found.take_comment(&c);
    }
    walked
}
