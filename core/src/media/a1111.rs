//! The `parameters` text of AUTOMATIC1111's web UI and Forge ("infotext"), parsed as A1111's own
//! `parse_generation_parameters` does:
//!
//! ```text
//! a prompt, possibly
//! on several lines <lora:name:0.8>
//! Negative prompt: a negative prompt, also possibly on several lines
//! Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x768, Model hash: 6ce0161689, Model: v1-5, Lora hashes: "name: 1a2b3c4d5e6f", Version: v1.10.1
//! ```
//!
//! The last line holds the settings when it has at least three `key: value` pairs (else it belongs to the
//! prompts). A value is either up to the next comma or a JSON string in quotes (A1111 quotes values holding a
//! comma, a colon or a newline), which may hold commas and escaped quotes. An empty value is left out, as A1111
//! does. LoRAs come from `<lora:name:weight>` (and `<lyco:...>`) in the prompt and from `Lora hashes`.

use serde::Serialize;

use super::{GenerationParams, Lora};

/// An A1111 text, split: the prompts and the settings line's pairs in order (values unquoted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct A1111Params {
    /// The positive prompt (its lines joined by `\n`, each trimmed).
    pub prompt: String,
    /// The negative prompt (the same).
    pub negative_prompt: String,
    /// The settings line's `key: value` pairs, in order, values unquoted (`Size` is kept as `WxH`).
    pub settings: Vec<(String, String)>,
}

/// Splits an A1111 text into prompts and settings. Never fails: any text is a prompt at least.
pub fn parse(text: &str) -> A1111Params {
    let text = text.trim();
    let mut lines: Vec<&str> = text.split('\n').collect();
    let last = lines.pop().unwrap_or_default();
    let found = find_params(last);
    let mut settings = Vec::new();
    if found.len() >= 3 {
        settings = found
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k, unquote(v)))
            .collect();
    } else {
        lines.push(last);
    }
    let (mut prompt, mut negative) = (String::new(), String::new());
    let mut in_negative = false;
    for line in lines {
        let mut line = line.trim();
        if let Some(rest) = line.strip_prefix("Negative prompt:") {
            in_negative = true;
            line = rest.trim();
        }
        let target = if in_negative { &mut negative } else { &mut prompt };
        if !target.is_empty() {
            target.push('\n');
        }
        target.push_str(line);
    }
    A1111Params { prompt, negative_prompt: negative, settings }
}

impl A1111Params {
    /// Whether the text had a settings line (a text without one is likely no A1111 text at all).
    pub fn has_settings(&self) -> bool {
        !self.settings.is_empty()
    }

    /// The value of a setting (the last one of that name, as A1111 reads them).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The parsed fields: the known settings typed, LoRAs from the prompt with their hashes, the rest in
    /// `extra`. A known setting whose value does not parse (`Steps: many`) goes to `extra` as it is.
    pub fn generation(&self) -> GenerationParams {
        let mut g = GenerationParams {
            prompt: Some(self.prompt.clone()).filter(|p| !p.is_empty()),
            negative_prompt: Some(self.negative_prompt.clone()).filter(|p| !p.is_empty()),
            loras: prompt_loras(&self.prompt),
            ..GenerationParams::default()
        };
        let mut hashes: Vec<(String, String)> = Vec::new();
        for (k, v) in &self.settings {
            let text = || Some(v.clone());
            let known = match k.as_str() {
                "Steps" => set(&mut g.steps, v.trim().parse().ok()),
                "Sampler" => set(&mut g.sampler, text()),
                "Schedule type" => set(&mut g.scheduler, text()),
                "CFG scale" => {
                    set(&mut g.cfg_scale, v.trim().parse::<f64>().ok().filter(|f| f.is_finite()))
                }
                "Seed" => set(&mut g.seed, v.trim().parse().ok()),
                "Size" => match size(v) {
                    Some((w, h)) => {
                        g.width = Some(w);
                        g.height = Some(h);
                        true
                    }
                    None => false,
                },
                "Model" => set(&mut g.model, text()),
                "Model hash" => set(&mut g.model_hash, text()),
                "Lora hashes" => {
                    hashes = lora_hashes(v);
                    true
                }
                _ => false,
            };
            if !known {
                g.extra.insert(k.clone(), v.clone());
            }
        }
        for (name, hash) in hashes {
            let mut matched = false;
            for l in g.loras.iter_mut().filter(|l| l.name == name) {
                l.hash = Some(hash.clone());
                matched = true;
            }
            if !matched {
                g.loras.push(Lora { name, weight: None, hash: Some(hash) });
            }
        }
        g
    }
}

/// Sets `slot` to `v` when there is one; whether there was.
fn set<T>(slot: &mut Option<T>, v: Option<T>) -> bool {
    let known = v.is_some();
    if known {
        *slot = v;
    }
    known
}

/// `WxH` as two numbers.
fn size(v: &str) -> Option<(u32, u32)> {
    let (w, h) = v.trim().split_once('x')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(w) || !digits(h) {
        return None;
    }
    Some((w.parse().ok()?, h.parse().ok()?))
}

/// `name: hash, name2: hash2` (each split at its last colon).
fn lora_hashes(v: &str) -> Vec<(String, String)> {
    v.split(',')
        .filter_map(|item| {
            let (name, hash) = item.rsplit_once(':')?;
            let (name, hash) = (name.trim(), hash.trim());
            (!name.is_empty() && !hash.is_empty()).then(|| (name.to_string(), hash.to_string()))
        })
        .collect()
}

/// The `<lora:name:weight...>` and `<lyco:...>` tags of a prompt, in order (A1111's `<(\w+):([^>]+)>`).
fn prompt_loras(prompt: &str) -> Vec<Lora> {
    let mut out = Vec::new();
    let mut rest = prompt;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let word_len: usize = after.chars().take_while(|c| is_word(*c)).map(char::len_utf8).sum();
        let kind = &after[..word_len];
        let params = after[word_len..].strip_prefix(':');
        let Some(params) = params.filter(|_| word_len > 0) else {
            rest = after;
            continue;
        };
        let Some(close) = params.find('>') else { break };
        let inner = &params[..close];
        if !inner.is_empty()
            && (kind.eq_ignore_ascii_case("lora") || kind.eq_ignore_ascii_case("lyco"))
        {
            let mut parts = inner.split(':');
            let name = parts.next().unwrap_or_default().trim();
            let weight = match parts.next() {
                None => Some(1.0),
                Some(w) => w.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
            };
            if !name.is_empty() {
                out.push(Lora { name: name.to_string(), weight, hash: None });
            }
        }
        rest = &params[close + 1..];
    }
    out
}

/// Python's `\w`: letters, digits (any script) and `_`.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The characters of A1111's key class `[\w \-/]`.
fn is_key(c: char) -> bool {
    is_word(c) || c == ' ' || c == '-' || c == '/'
}

/// A JSON string value unquoted, as A1111's `unquote`; anything else as it is.
fn unquote(v: String) -> String {
    if v.len() >= 2
        && v.starts_with('"')
        && v.ends_with('"')
        && let Ok(s) = serde_json::from_str::<String>(&v)
    {
        return s;
    }
    v
}

/// Every match of A1111's `\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)` in `line`, scanned as
/// `re.findall` does (in linear time: a failed key skips its whole run), values raw.
fn find_params(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut p = 0;
    while p < line.len() {
        match match_at(line, p) {
            Ok((k, v, end)) => {
                out.push((k, v));
                p = end;
            }
            Err(resume) => {
                let next = line[p..].chars().next().map_or(line.len(), |c| p + c.len_utf8());
                p = resume.max(next);
            }
        }
    }
    out
}

/// One match starting at `p`: key, value and the end; on failure, where the next attempt can start.
fn match_at(line: &str, p: usize) -> Result<(String, String, usize), usize> {
    let skip_ws = |mut i: usize| {
        while let Some(c) = line[i..].chars().next().filter(|c| c.is_whitespace()) {
            i += c.len_utf8();
        }
        i
    };
    let q = skip_ws(p);
    let Some(first) = line[q..].chars().next() else { return Err(line.len()) };
    if !is_word(first) {
        return Err(q + first.len_utf8());
    }
    let mut r = q + first.len_utf8();
    let mut key_chars = 1;
    while let Some(c) = line[r..].chars().next().filter(|c| is_key(*c)) {
        r += c.len_utf8();
        key_chars += 1;
    }
    if key_chars < 2 || !line[r..].starts_with(':') {
        return Err(r);
    }
    let key = line[q..r].trim_end().to_string();
    let v0 = skip_ws(r + 1);
    if let Some(end) = quoted_end(line, v0) {
        let after = line[end..].strip_prefix(',').map_or(end, |_| end + 1);
        return Ok((key, line[v0..end].to_string(), after));
    }
    let v_end = line[v0..].find(',').map_or(line.len(), |i| v0 + i);
    let after = if v_end < line.len() { v_end + 1 } else { v_end };
    Ok((key, line[v0..v_end].trim_end().to_string(), after))
}

/// The end (after the closing quote) of `"(?:\\.|[^\\"])+"` at `i` when a comma or the end follows it.
fn quoted_end(line: &str, i: usize) -> Option<usize> {
    let body = line[i..].strip_prefix('"')?;
    let mut chars = body.char_indices();
    let mut units = 0;
    while let Some((j, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, '\n')) | None => return None,
                Some(_) => units += 1,
            },
            '"' => {
                let end = i + 1 + j + 1;
                let ok = units > 0 && (end == line.len() || line[end..].starts_with(','));
                return ok.then_some(end);
            }
            _ => units += 1,
        }
    }
    None
}

/// A1111's `quote`: a value holding a comma, a colon or a newline as a JSON string.
fn quote(v: &str) -> String {
    if v.contains([',', ':', '\n']) {
        serde_json::to_string(v).unwrap_or_else(|_| v.to_string())
    } else {
        v.to_string()
    }
}

/// An A1111 text of `g`, as A1111's `create_infotext` lays it out (for images whose tool wrote none, such as
/// ComfyUI's): prompt, `Negative prompt:`, then `Steps`, `Sampler`, `Schedule type`, `CFG scale`, `Seed`, `Size`,
/// `Model hash`, `Model`, `Lora hashes` and the extra settings.
pub fn format(g: &GenerationParams) -> String {
    let mut settings: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            settings.push((k.to_string(), v));
        }
    };
    put("Steps", g.steps.map(|n| n.to_string()));
    put("Sampler", g.sampler.clone());
    put("Schedule type", g.scheduler.clone());
    put("CFG scale", g.cfg_scale.map(|f| f.to_string()));
    put("Seed", g.seed.map(|n| n.to_string()));
    put("Size", g.width.zip(g.height).map(|(w, h)| format!("{w}x{h}")));
    put("Model hash", g.model_hash.clone());
    put("Model", g.model.clone());
    let hashes: Vec<String> = g
        .loras
        .iter()
        .filter_map(|l| l.hash.as_ref().map(|h| format!("{}: {h}", l.name)))
        .collect();
    put("Lora hashes", Some(hashes.join(", ")).filter(|h| !h.is_empty()));
    let line = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(g.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}: {}", quote(v)))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = g.prompt.clone().unwrap_or_default();
    if let Some(n) = g.negative_prompt.as_deref().filter(|n| !n.is_empty()) {
        out.push_str("\nNegative prompt: ");
        out.push_str(n);
    }
    out.push('\n');
    out.push_str(&line);
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "masterpiece, a fox <lora:fox_v2:0.8>, <lora:snow detail:1:0.5>\n\
        second line <lyco:Old:abc>\n\
        Negative prompt: lowres,\n  watermark  \n\
        Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592653, \
        Size: 512x768, Model hash: 6ce0161689, Model: v1-5, ADetailer prompt: \"a \\\"smiling\\\" face, detailed\", \
        Lora hashes: \"fox_v2: 1a2b, snow detail: 0f9e, other: 77\", Empty: , Version: v1.10.1";

    #[test]
    fn a_full_text_parses_like_a1111() {
        let p = parse(TEXT);
        assert_eq!(
            p.prompt,
            "masterpiece, a fox <lora:fox_v2:0.8>, <lora:snow detail:1:0.5>\nsecond line <lyco:Old:abc>"
        );
        assert_eq!(p.negative_prompt, "lowres,\nwatermark");
        assert_eq!(p.get("ADetailer prompt"), Some("a \"smiling\" face, detailed"));
        assert_eq!(p.get("Empty"), None);
        assert_eq!(p.settings.len(), 11);
        let g = p.generation();
        assert_eq!(g.steps, Some(28));
        assert_eq!(g.sampler.as_deref(), Some("DPM++ 2M"));
        assert_eq!(g.scheduler.as_deref(), Some("Karras"));
        assert_eq!(g.cfg_scale, Some(6.5));
        assert_eq!(g.seed, Some(3141592653));
        assert_eq!((g.width, g.height), (Some(512), Some(768)));
        assert_eq!(g.model.as_deref(), Some("v1-5"));
        assert_eq!(g.model_hash.as_deref(), Some("6ce0161689"));
        let l = |name: &str, weight: Option<f64>, hash: Option<&str>| Lora {
            name: name.into(),
            weight,
            hash: hash.map(String::from),
        };
        assert_eq!(
            g.loras,
            [
                l("fox_v2", Some(0.8), Some("1a2b")),
                l("snow detail", Some(1.0), Some("0f9e")),
                l("Old", None, None),
                l("other", None, Some("77")),
            ]
        );
        assert_eq!(
            g.extra.into_iter().collect::<Vec<_>>(),
            [
                ("ADetailer prompt".to_string(), "a \"smiling\" face, detailed".to_string()),
                ("Version".to_string(), "v1.10.1".to_string()),
            ]
        );
    }

    #[test]
    fn a_last_line_of_fewer_than_three_pairs_is_prompt() {
        let p = parse("a cat\nstyle: noir, mood: calm");
        assert_eq!(p.prompt, "a cat\nstyle: noir, mood: calm");
        assert!(!p.has_settings());
        let p = parse("Steps: 1, Seed: 2, Size: 3x4");
        assert_eq!((p.prompt.as_str(), p.settings.len()), ("", 3));
        assert_eq!(parse(""), A1111Params::default());
    }

    #[test]
    fn quoted_values_follow_the_regex() {
        // A quote not followed by a comma is no quoted value: the value runs to the next comma.
        let p = parse("x\nAb: \"b\" c, Dd: 1, Ee: 2");
        assert_eq!(p.settings[0], ("Ab".to_string(), "\"b\" c".to_string()));
        // An unterminated quote likewise; a broken JSON string stays as it is.
        let p = parse("x\nAb: \"b, Dd: 1, Ee: \"\\q\"");
        assert_eq!(p.settings[0], ("Ab".to_string(), "\"b".to_string()));
        assert_eq!(p.settings[2], ("Ee".to_string(), "\"\\q\"".to_string()));
        // A key must be two characters of [\w \-/] at least; a failed one is skipped over.
        let p = parse("x\nk: 1, Hires/upscale by-x: 2, Model: \"a:b\", Seed: 5");
        assert_eq!(
            p.settings,
            [
                ("Hires/upscale by-x".to_string(), "2".to_string()),
                ("Model".into(), "a:b".into()),
                ("Seed".into(), "5".into()),
            ]
        );
        assert_eq!(p.prompt, "x");
    }

    #[test]
    fn bad_numbers_stay_in_extra() {
        let g = parse("p\nSteps: many, CFG scale: nan, Seed: -1, Size: 5x").generation();
        assert_eq!((g.steps, g.cfg_scale, g.seed, g.width), (None, None, None, None));
        assert_eq!(g.extra.len(), 4);
    }

    #[test]
    fn format_lays_out_what_parse_reads() {
        let g = parse(TEXT).generation();
        let again = parse(&format(&g)).generation();
        assert_eq!(again.steps, g.steps);
        assert_eq!(again.extra, g.extra);
        assert_eq!(again.prompt, g.prompt);
        assert_eq!(again.negative_prompt, g.negative_prompt);
        assert_eq!((again.cfg_scale, again.seed, again.width), (g.cfg_scale, g.seed, g.width));
        assert_eq!(format(&GenerationParams { steps: Some(3), ..Default::default() }), "Steps: 3");
    }

    #[test]
    fn hostile_text_is_linear() {
        let t = format!(
            "{}{}>\n{}",
            "<lora".repeat(100_000),
            "<:".repeat(100_000),
            "a,".repeat(200_000)
        );
        let start = std::time::Instant::now();
        let _ = parse(&t).generation();
        assert!(start.elapsed().as_secs() < 5);
    }
}
