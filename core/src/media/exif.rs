//! EXIF (a TIFF structure) as generation tools write it: the `UserComment` of the Exif IFD (A1111, Forge) and
//! the text tags of IFD0 from ImageWidth (0x0100) to Model (0x0110), where ComfyUI's WebP saver puts
//! `prompt:{json}` (Model) and `workflow:{json}` (Make, then downwards for further keys).
//!
//! Only IFD0 and the Exif IFD it points to are read; at most [`MAX_ENTRIES`] entries of each, every offset
//! checked against the block, an IFD met twice (a loop) read once.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Found;
use crate::error::{Error, ErrorKind, Result};

/// The most entries of one IFD that are looked at.
pub const MAX_ENTRIES: usize = 1024;

/// The tag of the Exif IFD pointer in IFD0.
const EXIF_IFD: u16 = 0x8769;
/// The tag of UserComment in the Exif IFD.
const USER_COMMENT: u16 = 0x9286;
/// IFD0 text tags looked at: ImageWidth (0x0100) .. Model (0x0110).
const TEXT_TAGS: std::ops::RangeInclusive<u16> = 0x0100..=0x0110;

/// The texts of an EXIF block that generation tools use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExifText {
    /// `UserComment`, decoded (its character-code prefix removed).
    pub user_comment: Option<String>,
    /// The ASCII (or undefined-type) tags of IFD0 from 0x0100 to 0x0110, by tag, up to their first NUL.
    pub ifd0_text: BTreeMap<u16, String>,
    /// What could not be read (an offset out of the block, a loop, an IFD cut short).
    pub warnings: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    Little,
    Big,
}

struct Tiff<'a> {
    data: &'a [u8],
    order: Order,
}

impl Tiff<'_> {
    fn u16_at(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.data.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(match self.order {
            Order::Little => u16::from_le_bytes(b),
            Order::Big => u16::from_be_bytes(b),
        })
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.data.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self.order {
            Order::Little => u32::from_le_bytes(b),
            Order::Big => u32::from_be_bytes(b),
        })
    }

    /// The bytes of the entry at `at` (12 bytes: tag, type, count, value or offset).
    fn value(&self, at: usize) -> Option<&[u8]> {
        let kind = self.u16_at(at + 2)?;
        let count = self.u32_at(at + 4)?;
        let unit: u64 = match kind {
            1 | 2 | 6 | 7 => 1,
            3 | 8 => 2,
            4 | 9 | 11 | 13 => 4,
            5 | 10 | 12 => 8,
            _ => return None,
        };
        let size = usize::try_from(unit * u64::from(count)).ok()?;
        if size <= 4 {
            self.data.get(at + 8..at + 8 + size)
        } else {
            let off = self.u32_at(at + 8)? as usize;
            self.data.get(off..off.checked_add(size)?)
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ifd {
    Zero,
    Exif,
}

/// Reads the texts of an EXIF block (a TIFF header and its IFDs, without the `Exif\0\0` prefix). `corrupt` when
/// it has no TIFF header or its IFD0 lies outside it; damage further in is a warning.
pub fn parse(tiff: &[u8]) -> Result<ExifText> {
    let corrupt = |m: &str| Error::new(ErrorKind::Corrupt, format!("the EXIF block {m}"));
    let order = match tiff.get(0..4) {
        Some(b"II*\0") => Order::Little,
        Some(b"MM\0*") => Order::Big,
        _ => return Err(corrupt("has no TIFF header")),
    };
    let t = Tiff { data: tiff, order };
    let ifd0 = t.u32_at(4).ok_or_else(|| corrupt("has no TIFF header"))? as usize;
    if t.u16_at(ifd0).is_none() {
        return Err(corrupt("points to an IFD0 outside itself"));
    }
    let mut out = ExifText::default();
    let mut visited: Vec<usize> = Vec::new();
    let mut queue = vec![(ifd0, Ifd::Zero)];
    while let Some((off, which)) = queue.pop() {
        if visited.contains(&off) {
            out.warnings
                .push("the EXIF IFDs loop (an offset points back to one already read)".into());
            continue;
        }
        visited.push(off);
        let Some(count) = t.u16_at(off) else {
            out.warnings.push("the Exif IFD lies outside the EXIF block".into());
            continue;
        };
        let mut count = usize::from(count);
        if count > MAX_ENTRIES {
            out.warnings
                .push(format!("an EXIF IFD claims {count} entries: the first {MAX_ENTRIES} read"));
            count = MAX_ENTRIES;
        }
        for i in 0..count {
            let at = off + 2 + 12 * i;
            let (Some(tag), Some(kind)) = (t.u16_at(at), t.u16_at(at + 2)) else {
                out.warnings.push("an EXIF IFD is cut short".into());
                break;
            };
            if t.data.len() < at + 12 {
                out.warnings.push("an EXIF IFD is cut short".into());
                break;
            }
            match (which, tag) {
                (Ifd::Zero, EXIF_IFD) => match t.u32_at(at + 8) {
                    Some(ptr) if matches!(kind, 4 | 13) => queue.push((ptr as usize, Ifd::Exif)),
                    _ => out.warnings.push("the Exif IFD pointer is not a LONG".into()),
                },
                (Ifd::Zero, tag) if TEXT_TAGS.contains(&tag) && matches!(kind, 1 | 2 | 7) => {
                    match t.value(at) {
                        Some(v) => {
                            let v = v.split(|b| *b == 0).next().unwrap_or_default();
                            out.ifd0_text
                                .entry(tag)
                                .or_insert_with(|| String::from_utf8_lossy(v).into_owned());
                        }
                        None => out
                            .warnings
                            .push(format!("EXIF tag 0x{tag:04X} points outside the EXIF block")),
                    }
                }
                (Ifd::Exif, USER_COMMENT) if out.user_comment.is_none() => match t.value(at) {
                    Some(v) => out.user_comment = Some(decode_user_comment(v, order)),
                    None => out
                        .warnings
                        .push("the EXIF UserComment points outside the EXIF block".into()),
                },
                _ => {}
            }
        }
    }
    Ok(out)
}

/// A UserComment's text: its 8-byte character code (`ASCII\0\0\0`, `UNICODE\0`, `JIS\0\0\0\0\0` or undefined
/// zeros) removed, trailing NULs dropped. `UNICODE` is UTF-16: a BOM decides its byte order, else the text
/// itself when it is plainly one order (ASCII-range text has its zero bytes on one side), else the TIFF's.
/// Without a known prefix the whole value is taken as UTF-8.
fn decode_user_comment(v: &[u8], order: Order) -> String {
    let text = match v.split_at_checked(8) {
        Some((b"UNICODE\0", body)) => utf16(body, order),
        Some((b"ASCII\0\0\0" | b"JIS\0\0\0\0\0" | [0, 0, 0, 0, 0, 0, 0, 0], body)) => {
            String::from_utf8_lossy(body).into_owned()
        }
        _ => String::from_utf8_lossy(v).into_owned(),
    };
    text.trim_end_matches('\0').to_string()
}

fn utf16(body: &[u8], order: Order) -> String {
    let (order, body) = match body {
        [0xFE, 0xFF, rest @ ..] => (Order::Big, rest),
        [0xFF, 0xFE, rest @ ..] => (Order::Little, rest),
        _ => {
            let sample = &body[..body.len().min(512)];
            let zeros =
                |parity: usize| sample.iter().skip(parity).step_by(2).filter(|b| **b == 0).count();
            let (even, odd) = (zeros(0), zeros(1));
            let guessed = if even > 2 * odd + 2 {
                Order::Big
            } else if odd > 2 * even + 2 {
                Order::Little
            } else {
                order
            };
            (guessed, body)
        }
    };
    let units = body.chunks_exact(2).map(|p| match order {
        Order::Big => u16::from_be_bytes([p[0], p[1]]),
        Order::Little => u16::from_le_bytes([p[0], p[1]]),
    });
    char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect()
}

/// Reads an EXIF block into `found`: the UserComment (A1111 text or ComfyUI JSON) and ComfyUI's tagged IFD0
/// texts. A block that cannot be read at all, or only in part, gives warnings.
pub(crate) fn take(tiff: &[u8], found: &mut Found) {
    let text = match parse(tiff) {
        Ok(t) => t,
        Err(e) => {
            found.warnings.push(e.message().to_string());
            return;
        }
    };
    // Model (0x0110) first, then Make (0x010F) and downwards, as ComfyUI writes them.
    for v in text.ifd0_text.values().rev() {
        found.take_comfy_tagged(v);
    }
    if let Some(c) = &text.user_comment {
        found.take_comment(c);
    }
    found.warnings.extend(text.warnings);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be_utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
    }

    #[test]
    fn user_comments_decode_by_prefix_and_order() {
        let mut v = b"UNICODE\0".to_vec();
        v.extend(be_utf16("Steps: 20 🦊"));
        assert_eq!(decode_user_comment(&v, Order::Big), "Steps: 20 🦊");
        // Big-endian text in a little-endian TIFF is still read right.
        assert_eq!(decode_user_comment(&v, Order::Little), "Steps: 20 🦊");
        let mut le = b"UNICODE\0".to_vec();
        le.extend("abc def".encode_utf16().flat_map(|u| u.to_le_bytes()));
        assert_eq!(decode_user_comment(&le, Order::Big), "abc def");
        let mut bom = b"UNICODE\0\xFF\xFE".to_vec();
        bom.extend("狐".encode_utf16().flat_map(|u| u.to_le_bytes()));
        assert_eq!(decode_user_comment(&bom, Order::Big), "狐");
        assert_eq!(decode_user_comment(b"ASCII\0\0\0hello\0\0", Order::Big), "hello");
        assert_eq!(decode_user_comment(b"no prefix", Order::Big), "no prefix");
        assert_eq!(decode_user_comment(b"", Order::Big), "");
        // An odd byte at the end is dropped, a lone surrogate replaced.
        assert_eq!(decode_user_comment(b"UNICODE\0\0a\xD8\x00\0bx", Order::Big), "a\u{FFFD}b");
    }

    #[test]
    fn headers_are_checked() {
        assert_eq!(parse(b"").unwrap_err().kind(), ErrorKind::Corrupt);
        assert_eq!(parse(b"II*\0\xff\0\0\0").unwrap_err().kind(), ErrorKind::Corrupt);
        let empty = parse(b"MM\0*\0\0\0\x08\0\0").unwrap();
        assert_eq!(empty, ExifText::default());
    }
}
