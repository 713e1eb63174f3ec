//! PNG: walks every chunk to IEND, reads the text chunks that hold generation metadata (`tEXt`, `zTXt`,
//! `iTXt` named `parameters`, `prompt` or `workflow`) and seeks over everything else, image data included.

use std::io::{Read, Seek};

use super::source::Source;
use super::{Found, MAX_INFLATED_BYTES, MAX_TEXT_BYTES};
use crate::error::Result;

/// The 8 bytes every PNG starts with.
pub(crate) const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// The largest chunk length PNG allows (2^31 - 1).
const MAX_CHUNK: u32 = 0x7FFF_FFFF;

/// The longest keyword (79 bytes) and its NUL.
const KEYWORD_MAX: usize = 80;

/// Reads the metadata chunks of the PNG in `src` into `found`.
pub(crate) fn read<R: Read + Seek>(src: &mut Source<R>, found: &mut Found) -> Result<()> {
    let mut sig = [0u8; 8];
    src.read_exact(&mut sig)?;
    if &sig != SIGNATURE {
        return Err(src.corrupt("not a PNG signature"));
    }
    loop {
        if src.remaining() == 0 {
            return Err(src.corrupt("the PNG ends before its IEND chunk: it is truncated"));
        }
        let mut head = [0u8; 8];
        src.read_exact(&mut head)?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind = [head[4], head[5], head[6], head[7]];
        if len > MAX_CHUNK {
            return Err(
                src.corrupt(&format!("a PNG chunk claims {len} bytes, more than PNG allows"))
            );
        }
        if !kind.iter().all(|b| b.is_ascii_alphabetic()) {
            return Err(src.corrupt("a PNG chunk has no valid type: the file is damaged"));
        }
        match &kind {
            b"IEND" => return Ok(()),
            b"tEXt" | b"zTXt" | b"iTXt" => text_chunk(src, found, kind, len)?,
            _ => src.skip(u64::from(len) + 4)?,
        }
    }
}

/// The slot of `found` a keyword fills, if it is one of ours and still empty.
fn slot<'a>(found: &'a mut Found, keyword: &[u8]) -> Option<&'a mut Option<String>> {
    let s = match keyword {
        b"parameters" => &mut found.parameters,
        b"prompt" => &mut found.comfy_prompt,
        b"workflow" => &mut found.comfy_workflow,
        _ => return None,
    };
    if s.is_none() { Some(s) } else { None }
}

fn text_chunk<R: Read + Seek>(
    src: &mut Source<R>,
    found: &mut Found,
    kind: [u8; 4],
    len: u32,
) -> Result<()> {
    let kind_name = String::from_utf8_lossy(&kind).into_owned();
    let len_usize = len as usize;
    // A chunk cut short by the end of the file still shows its keyword (the skip below then fails).
    let first =
        len_usize.min(KEYWORD_MAX).min(usize::try_from(src.remaining()).unwrap_or(usize::MAX));
    let mut data = src.read_vec(first)?;
    let Some(nul) = data.iter().position(|b| *b == 0) else {
        // No keyword: not one of ours to read.
        return src.skip(u64::from(len) - first as u64 + 4);
    };
    let keyword = data[..nul].to_vec();
    let shown = latin1(&keyword);
    if slot(found, &keyword).is_none() {
        return src.skip(u64::from(len) - first as u64 + 4);
    }
    if len_usize > MAX_TEXT_BYTES {
        found.warnings.push(format!(
            "the PNG {kind_name} chunk {shown:?} holds {len} bytes, more than the {MAX_TEXT_BYTES} read: left out"
        ));
        return src.skip(u64::from(len) - first as u64 + 4);
    }
    data.extend_from_slice(&src.read_vec(len_usize - first)?);
    let mut crc = [0u8; 4];
    src.read_exact(&mut crc)?;
    let mut h = crc32fast::Hasher::new();
    h.update(&kind);
    h.update(&data);
    if h.finalize() != u32::from_be_bytes(crc) {
        found
            .warnings
            .push(format!("the PNG {kind_name} chunk {shown:?} fails its CRC (damaged): left out"));
        return Ok(());
    }
    let body = data.get(nul + 1..).unwrap_or_default();
    match decode(&kind, body) {
        Ok(text) => {
            if let Some(s) = slot(found, &keyword) {
                *s = Some(text);
            }
        }
        Err(why) => {
            found.warnings.push(format!("the PNG {kind_name} chunk {shown:?} {why}: left out"))
        }
    }
    Ok(())
}

/// The text of a chunk's body (after its keyword and NUL).
fn decode(kind: &[u8; 4], body: &[u8]) -> std::result::Result<String, String> {
    match kind {
        b"tEXt" => Ok(latin1_or_utf8(body)),
        b"zTXt" => match body.split_first() {
            Some((0, compressed)) => Ok(latin1_or_utf8(&inflate(compressed)?)),
            Some((m, _)) => Err(format!("uses compression method {m}, not zlib")),
            None => Err("is empty".into()),
        },
        _ => {
            // iTXt: compression flag, method, language tag\0, translated keyword\0, text.
            let (&flag, rest) = body.split_first().ok_or("is cut short")?;
            let (&method, rest) = rest.split_first().ok_or("is cut short")?;
            let lang_end = rest.iter().position(|b| *b == 0).ok_or("is cut short")?;
            let rest = rest.get(lang_end + 1..).unwrap_or_default();
            let tr_end = rest.iter().position(|b| *b == 0).ok_or("is cut short")?;
            let text = rest.get(tr_end + 1..).unwrap_or_default();
            match (flag, method) {
                (0, _) => Ok(String::from_utf8_lossy(text).into_owned()),
                (1, 0) => Ok(String::from_utf8_lossy(&inflate(text)?).into_owned()),
                (1, m) => Err(format!("uses compression method {m}, not zlib")),
                (f, _) => Err(format!("has compression flag {f}")),
            }
        }
    }
}

/// Inflates a zlib stream, at most [`MAX_INFLATED_BYTES`].
pub(crate) fn inflate(data: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let limit = MAX_INFLATED_BYTES as u64 + 1;
    flate2::read::ZlibDecoder::new(data)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| format!("is not a valid zlib stream ({e})"))?;
    if out.len() > MAX_INFLATED_BYTES {
        return Err(format!("inflates to more than {MAX_INFLATED_BYTES} bytes"));
    }
    Ok(out)
}

fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

/// tEXt is Latin-1 by the standard; some tools write UTF-8 there, which is taken as such when it is valid.
fn latin1_or_utf8(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => latin1(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_latin1_unless_it_is_valid_utf8() {
        assert_eq!(latin1_or_utf8(b"caf\xe9"), "café");
        assert_eq!(latin1_or_utf8("café".as_bytes()), "café");
    }

    #[test]
    fn itxt_bodies_decode() {
        assert_eq!(decode(b"iTXt", b"\0\0en\0Prompt\0hello").unwrap(), "hello");
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, "größer".as_bytes()).unwrap();
        let mut body = b"\x01\x00\0\0".to_vec();
        body.extend(z.finish().unwrap());
        assert_eq!(decode(b"iTXt", &body).unwrap(), "größer");
        assert_eq!(decode(b"iTXt", b"\x01").unwrap_err(), "is cut short");
        assert_eq!(decode(b"iTXt", b"\x02\0\0\0x").unwrap_err(), "has compression flag 2");
        assert_eq!(decode(b"zTXt", b"\x01abc").unwrap_err(), "uses compression method 1, not zlib");
        assert!(decode(b"zTXt", b"\x00not zlib").unwrap_err().starts_with("is not a valid zlib"));
    }
}
