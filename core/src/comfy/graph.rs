//! ComfyUI's two graph formats, and the generation parameters found by following them.
//!
//! **The prompt graph** (API format, the `prompt` an image carries and `/prompt` takes):
//! `{"<node id>": {"class_type": "KSampler", "inputs": {"seed": 1, "model": ["4", 0], ...}}, ...}`, where an
//! input is a value or a link `["<node id>", <output index>]`. [`PromptGraph::generation`] takes the main
//! sampler (see [`PromptGraph::main_sampler`]) and follows its inputs:
//! - `seed` / `noise_seed` (or a `noise` node's), `steps`, `cfg`, `sampler_name`, `scheduler`, `denoise` (or
//!   those of the `guider`, `sampler` and `sigmas` nodes of `SamplerCustom` / `SamplerCustomAdvanced`); a value
//!   that is a link is taken from the node it points to (`value`, `seed`, `int`... inputs: primitive nodes);
//! - `model` through `LoraLoader` / `LoraLoaderModelOnly` chains (`lora_name`, `strength_model`) to the node
//!   with a `ckpt_name` (`CheckpointLoaderSimple`) or `unet_name` (`UNETLoader`), through other nodes by their
//!   `model` input or else their first linked input;
//! - `positive` / `negative` (or the guider's `positive`, `negative`, `conditioning`) to the first node with a
//!   text (`text`, `text_g`, `prompt`, `string`, `value`: `CLIPTextEncode` and the like), through other nodes by
//!   the input of the same role, their `conditioning` input or else their first linked input;
//! - the size from the first node of the `latent_image` chain with a `width` and `height`
//!   (`EmptyLatentImage`).
//!
//! **The workflow** (UI format, the `workflow` an image carries): `{"nodes": [{"id", "type", "mode", "inputs":
//! [{"name", "link"}], "widgets_values": [...]}], "links": [[id, origin, slot, target, slot, type]]}`. It has no
//! input names for widget values, so [`Workflow::to_prompt_graph`] names them for the core nodes it knows
//! (samplers, `RandomNoise`, `KSamplerSelect`, `BasicScheduler`, `CFGGuider`, `CLIPTextEncode`,
//! `CheckpointLoaderSimple`, `UNETLoader`, `LoraLoader`, `LoraLoaderModelOnly`, empty latents and primitives)
//! and links the rest; muted nodes are left out and bypassed ones keep only their links. Subgraphs, group nodes
//! and the widgets of other nodes are not read; the workflow itself is kept as it is in the metadata.
//!
//! Every walk is bounded ([`MAX_HOPS`]) and never visits a node twice, so a graph with cycles is harmless.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::media::{GenerationParams, Lora};

/// The most links one walk follows.
pub const MAX_HOPS: usize = 64;

/// A node of a prompt graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Its class (`KSampler`, `CLIPTextEncode`...).
    pub class_type: String,
    /// Its inputs: values, or links `["<node id>", <output index>]`.
    pub inputs: Map<String, Value>,
}

/// A ComfyUI prompt graph (API format).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptGraph {
    nodes: BTreeMap<String, Node>,
}

/// The node id a link input points to (`["<id>", <index>]`).
fn link(v: &Value) -> Option<&str> {
    match v.as_array()?.as_slice() {
        [Value::String(id), Value::Number(_)] => Some(id.as_str()),
        _ => None,
    }
}

/// The first input of `n` that is a link, by input name.
fn first_link(n: &Node) -> Option<&Value> {
    let mut names: Vec<&String> = n.inputs.keys().collect();
    names.sort();
    names.into_iter().filter_map(|k| n.inputs.get(k)).find(|v| link(v).is_some())
}

/// The first of `keys` that `n` has as an input.
fn first_of<'a>(n: &'a Node, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| n.inputs.get(*k))
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19).map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_u32(v: &Value) -> Option<u32> {
    as_u64(v).and_then(|n| u32::try_from(n).ok())
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

fn as_string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// Whether a class is a sampler node.
fn is_sampler(class: &str) -> bool {
    matches!(class, "KSampler" | "KSamplerAdvanced" | "SamplerCustom" | "SamplerCustomAdvanced")
        || class.starts_with("KSampler (")
        || class.starts_with("KSampler Adv")
}

/// Sorts ids as numbers where they are (`"3"` before `"10"`), then as text.
fn id_order(id: &str) -> (u64, &str) {
    let digits: String = id.chars().take_while(char::is_ascii_digit).collect();
    (digits.parse().unwrap_or(u64::MAX), id)
}

/// Inputs a value may be read from when a link leads to a node that provides it (primitive nodes).
const VALUE_KEYS: [&str; 8] =
    ["value", "seed", "noise_seed", "int", "float", "number", "string", "text"];
/// Inputs that hold a prompt's text.
const TEXT_KEYS: [&str; 5] = ["text", "text_g", "prompt", "string", "value"];
/// Inputs a latent chain goes on through.
const LATENT_KEYS: [&str; 3] = ["samples", "latent", "latent_image"];

impl PromptGraph {
    /// Reads a prompt graph. `invalid_input` when it is not a JSON object; entries that are not nodes (no
    /// `class_type`) are left out.
    pub fn parse(v: &Value) -> Result<PromptGraph> {
        let obj = v
            .as_object()
            .ok_or_else(|| Error::invalid("a ComfyUI prompt graph must be an object of nodes"))?;
        let nodes = obj
            .iter()
            .filter_map(|(id, n)| {
                let class_type = n.get("class_type")?.as_str()?.to_string();
                let inputs =
                    n.get("inputs").and_then(Value::as_object).cloned().unwrap_or_default();
                Some((id.clone(), Node { class_type, inputs }))
            })
            .collect();
        Ok(PromptGraph { nodes })
    }

    /// A graph of the given nodes.
    pub fn from_nodes(nodes: impl IntoIterator<Item = (String, Node)>) -> PromptGraph {
        PromptGraph { nodes: nodes.into_iter().collect() }
    }

    /// The node of an id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// The nodes, by id.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node an input of `n` links to.
    fn via(&self, n: &Node, key: &str) -> Option<&Node> {
        self.node(link(n.inputs.get(key)?)?)
    }

    /// The value of input `key` of `n`, following links to the nodes that provide it.
    fn scalar<'a>(&'a self, n: &'a Node, key: &str) -> Option<&'a Value> {
        let mut v = n.inputs.get(key)?;
        for _ in 0..MAX_HOPS {
            let Some(id) = link(v) else { return Some(v) };
            let target = self.node(id)?;
            v = target
                .inputs
                .get(key)
                .or_else(|| first_of(target, &VALUE_KEYS))
                .or_else(|| first_link(target))?;
        }
        None
    }

    /// A text value, or the text of the node a link leads to.
    fn string_of<'a>(&'a self, mut v: &'a Value) -> Option<String> {
        for _ in 0..MAX_HOPS {
            if let Some(s) = v.as_str() {
                return Some(s.to_string());
            }
            let target = self.node(link(v)?)?;
            v = first_of(target, &TEXT_KEYS).or_else(|| first_link(target))?;
        }
        None
    }

    /// The sampler generation parameters are read from: the first sampler (by id) whose latent input does not
    /// come from another sampler (a first pass, not a hires or refiner pass), else the first sampler.
    pub fn main_sampler(&self) -> Option<&str> {
        let mut samplers: Vec<&str> = self
            .nodes
            .iter()
            .filter(|(_, n)| is_sampler(&n.class_type))
            .map(|(id, _)| id.as_str())
            .collect();
        samplers.sort_by_key(|id| id_order(id));
        samplers.iter().copied().find(|id| self.is_first_pass(id)).or(samplers.first().copied())
    }

    fn is_first_pass(&self, id: &str) -> bool {
        let Some(n) = self.node(id) else { return false };
        let mut cur = first_of(n, &["latent_image", "latent"]);
        let mut seen = vec![id];
        for _ in 0..MAX_HOPS {
            let Some(next) = cur.and_then(link) else { return true };
            if seen.contains(&next) {
                return true;
            }
            seen.push(next);
            let Some(n) = self.node(next) else { return true };
            if is_sampler(&n.class_type) {
                return false;
            }
            cur = first_of(n, &LATENT_KEYS).or_else(|| first_link(n));
        }
        true
    }

    /// The checkpoint at the end of a model chain, and the LoRAs on the way (in the order applied).
    fn model_chain(&self, start: Option<&Value>) -> (Option<String>, Vec<Lora>) {
        let mut loras = Vec::new();
        let mut model = None;
        let mut cur = start;
        let mut seen: Vec<&str> = Vec::new();
        for _ in 0..MAX_HOPS {
            let Some(id) = cur.and_then(link) else { break };
            if seen.contains(&id) {
                break;
            }
            seen.push(id);
            let Some(n) = self.node(id) else { break };
            if let Some(m) = ["ckpt_name", "unet_name"]
                .iter()
                .find_map(|k| self.scalar(n, k).and_then(as_string))
            {
                model = Some(m);
                break;
            }
            if let Some(name) =
                self.scalar(n, "lora_name").and_then(as_string).filter(|s| !s.is_empty())
            {
                let weight = self.scalar(n, "strength_model").and_then(as_f64);
                loras.push(Lora { name, weight, hash: None });
            }
            cur = n.inputs.get("model").or_else(|| first_link(n));
        }
        loras.reverse();
        (model, loras)
    }

    /// The text a conditioning input comes from.
    fn text(&self, start: Option<&Value>, role: &str) -> Option<String> {
        let mut cur = start;
        let mut seen: Vec<&str> = Vec::new();
        for _ in 0..MAX_HOPS {
            let id = cur.and_then(link)?;
            if seen.contains(&id) {
                return None;
            }
            seen.push(id);
            let n = self.node(id)?;
            if let Some(t) =
                TEXT_KEYS.iter().filter_map(|k| n.inputs.get(*k)).find_map(|v| self.string_of(v))
            {
                return Some(t);
            }
            cur = [role, "conditioning", "conditioning_1", "conditioning_to"]
                .iter()
                .filter_map(|k| n.inputs.get(*k))
                .find(|v| link(v).is_some())
                .or_else(|| first_link(n));
        }
        None
    }

    /// The width and height of a latent chain.
    fn size(&self, start: Option<&Value>) -> Option<(u32, u32)> {
        let mut cur = start;
        let mut seen: Vec<&str> = Vec::new();
        for _ in 0..MAX_HOPS {
            let id = cur.and_then(link)?;
            if seen.contains(&id) {
                return None;
            }
            seen.push(id);
            let n = self.node(id)?;
            let w = self.scalar(n, "width").and_then(as_u32);
            let h = self.scalar(n, "height").and_then(as_u32);
            if let (Some(w), Some(h)) = (w, h) {
                return Some((w, h));
            }
            cur = first_of(n, &LATENT_KEYS).or_else(|| first_link(n));
        }
        None
    }

    /// Input `key` of `n`, else the first of `other_keys` of the helper node `other`.
    fn pick<'a>(
        &'a self,
        n: &'a Node,
        key: &str,
        other: Option<&'a Node>,
        other_keys: &[&str],
    ) -> Option<&'a Value> {
        self.scalar(n, key).or_else(|| {
            let o = other?;
            other_keys.iter().find_map(|k| self.scalar(o, k))
        })
    }

    /// The generation parameters of the main sampler (empty when there is none).
    pub fn generation(&self) -> GenerationParams {
        let mut g = GenerationParams::default();
        let Some(s) = self.main_sampler().and_then(|id| self.node(id)) else { return g };
        let guider = self.via(s, "guider");
        let sigmas = self.via(s, "sigmas");
        let noise = self.via(s, "noise");
        let chooser = self.via(s, "sampler");
        g.seed = self
            .scalar(s, "noise_seed")
            .or_else(|| self.pick(s, "seed", noise, &["noise_seed", "seed"]))
            .and_then(as_u64);
        g.steps = self.pick(s, "steps", sigmas, &["steps"]).and_then(as_u32);
        g.cfg_scale = self.pick(s, "cfg", guider, &["cfg"]).and_then(as_f64);
        g.sampler = self.pick(s, "sampler_name", chooser, &["sampler_name"]).and_then(as_string);
        g.scheduler = self.pick(s, "scheduler", sigmas, &["scheduler"]).and_then(as_string);
        if let Some(d) = self.pick(s, "denoise", sigmas, &["denoise"]).and_then(as_f64) {
            g.extra.insert("denoise".into(), d.to_string());
        }
        let from_guider = |key: &str| guider.and_then(|n| n.inputs.get(key));
        let model = s
            .inputs
            .get("model")
            .or_else(|| from_guider("model"))
            .or_else(|| sigmas.and_then(|n| n.inputs.get("model")));
        (g.model, g.loras) = self.model_chain(model);
        let positive = s
            .inputs
            .get("positive")
            .or_else(|| from_guider("positive"))
            .or_else(|| from_guider("conditioning"));
        g.prompt = self.text(positive, "positive").filter(|t| !t.is_empty());
        let negative = s.inputs.get("negative").or_else(|| from_guider("negative"));
        g.negative_prompt = self.text(negative, "negative").filter(|t| !t.is_empty());
        if let Some((w, h)) = self.size(first_of(s, &["latent_image", "latent"])) {
            g.width = Some(w);
            g.height = Some(h);
        }
        g
    }
}

/// The control values the UI stores after a seed widget.
const CONTROLS: [&str; 4] = ["fixed", "increment", "decrement", "randomize"];
/// Marks the place of a seed's control value in [`widget_names`] (present only when the value is one).
const CONTROL: &str = "?control";

/// The names of the widget values of the core nodes the workflow reader knows, in order.
fn widget_names(class: &str) -> Option<&'static [&'static str]> {
    Some(match class {
        "KSampler" => &["seed", CONTROL, "steps", "cfg", "sampler_name", "scheduler", "denoise"],
        "KSamplerAdvanced" => &[
            "add_noise",
            "noise_seed",
            CONTROL,
            "steps",
            "cfg",
            "sampler_name",
            "scheduler",
            "start_at_step",
            "end_at_step",
            "return_with_leftover_noise",
        ],
        "SamplerCustom" => &["add_noise", "noise_seed", CONTROL, "cfg"],
        "RandomNoise" => &["noise_seed", CONTROL],
        "KSamplerSelect" => &["sampler_name"],
        "BasicScheduler" => &["scheduler", "steps", "denoise"],
        "CFGGuider" => &["cfg"],
        "CLIPTextEncode" => &["text"],
        "CheckpointLoaderSimple" => &["ckpt_name"],
        "UNETLoader" => &["unet_name", "weight_dtype"],
        "LoraLoader" => &["lora_name", "strength_model", "strength_clip"],
        "LoraLoaderModelOnly" => &["lora_name", "strength_model"],
        "EmptyLatentImage" | "EmptySD3LatentImage" => &["width", "height", "batch_size"],
        "PrimitiveNode" | "PrimitiveInt" => &["value", CONTROL],
        "PrimitiveFloat" | "PrimitiveString" | "PrimitiveStringMultiline" | "PrimitiveBoolean" => {
            &["value"]
        }
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq)]
struct UiNode {
    id: String,
    class_type: String,
    mode: i64,
    inputs: Vec<(String, Option<u64>)>,
    widgets: Vec<Value>,
}

/// A ComfyUI workflow (UI format).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Workflow {
    nodes: Vec<UiNode>,
    /// Link id -> (origin node id, origin slot).
    links: BTreeMap<u64, (String, u64)>,
}

/// A node id as text (the UI writes numbers; subgraphs write strings).
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

impl Workflow {
    /// Reads a workflow. `invalid_input` when it has no `nodes` list; nodes without an id or a type and links
    /// that are not well-formed are left out.
    pub fn parse(v: &Value) -> Result<Workflow> {
        let list = v
            .get("nodes")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::invalid("a ComfyUI workflow must have a \"nodes\" list"))?;
        let mut nodes = Vec::new();
        for n in list {
            let (Some(id), Some(class_type)) =
                (n.get("id").and_then(id_text), n.get("type").and_then(Value::as_str))
            else {
                continue;
            };
            let inputs = n
                .get("inputs")
                .and_then(Value::as_array)
                .map(|ins| {
                    ins.iter()
                        .filter_map(|i| {
                            let name = i.get("name")?.as_str()?.to_string();
                            Some((name, i.get("link").and_then(Value::as_u64)))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let widgets =
                n.get("widgets_values").and_then(Value::as_array).cloned().unwrap_or_default();
            let mode = n.get("mode").and_then(Value::as_i64).unwrap_or(0);
            nodes.push(UiNode { id, class_type: class_type.to_string(), mode, inputs, widgets });
        }
        let mut links = BTreeMap::new();
        for l in v.get("links").and_then(Value::as_array).into_iter().flatten() {
            let parsed = match l {
                Value::Array(a) => {
                    (|| Some((a.first()?.as_u64()?, id_text(a.get(1)?)?, a.get(2)?.as_u64()?)))()
                }
                Value::Object(o) => (|| {
                    Some((
                        o.get("id")?.as_u64()?,
                        id_text(o.get("origin_id")?)?,
                        o.get("origin_slot")?.as_u64()?,
                    ))
                })(),
                _ => None,
            };
            if let Some((id, origin, slot)) = parsed {
                links.insert(id, (origin, slot));
            }
        }
        Ok(Workflow { nodes, links })
    }

    /// How many nodes it has.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The prompt graph of the workflow as far as it can be named (see the module's documentation).
    pub fn to_prompt_graph(&self) -> PromptGraph {
        let mut out = BTreeMap::new();
        for n in self.nodes.iter().filter(|n| n.mode != 2) {
            let mut inputs = Map::new();
            if let Some(names) = widget_names(&n.class_type).filter(|_| n.mode != 4) {
                let mut values = n.widgets.iter().peekable();
                for name in names {
                    if *name == CONTROL {
                        if values
                            .peek()
                            .and_then(|v| v.as_str())
                            .is_some_and(|s| CONTROLS.contains(&s))
                        {
                            values.next();
                        }
                        continue;
                    }
                    let Some(v) = values.next() else { break };
                    inputs.insert(name.to_string(), v.clone());
                }
            }
            for (name, l) in &n.inputs {
                if let Some((origin, slot)) = l.and_then(|l| self.links.get(&l)) {
                    inputs.insert(
                        name.clone(),
                        Value::from(vec![Value::from(origin.clone()), Value::from(*slot)]),
                    );
                }
            }
            out.insert(n.id.clone(), Node { class_type: n.class_type.clone(), inputs });
        }
        PromptGraph { nodes: out }
    }

    /// The generation parameters of its prompt graph ([`PromptGraph::generation`]).
    pub fn generation(&self) -> GenerationParams {
        self.to_prompt_graph().generation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api() -> Value {
        json!({
            "3": {"class_type": "KSampler", "inputs": {"seed": 156680208700286u64, "steps": 20, "cfg": 8.0,
                "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0, "model": ["11", 0],
                "positive": ["20", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
            "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
            "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": ["30", 0], "batch_size": 1}},
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": ["31", 0], "clip": ["11", 1]}},
            "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["11", 1]}},
            "10": {"class_type": "LoraLoader", "inputs": {"lora_name": "a.safetensors", "strength_model": 0.5,
                "strength_clip": 1, "model": ["4", 0], "clip": ["4", 1]}},
            "11": {"class_type": "LoraLoader", "inputs": {"lora_name": "b.safetensors", "strength_model": 1,
                "strength_clip": 1, "model": ["10", 0], "clip": ["10", 1]}},
            "12": {"class_type": "KSampler", "inputs": {"seed": 9, "steps": 5, "model": ["4", 0],
                "latent_image": ["13", 0], "positive": ["6", 0], "negative": ["7", 0]}},
            "13": {"class_type": "LatentUpscale", "inputs": {"samples": ["3", 0], "width": 1024, "height": 1024}},
            "20": {"class_type": "ControlNetApplyAdvanced", "inputs": {"control_net": ["21", 0],
                "negative": ["7", 0], "positive": ["6", 0]}},
            "30": {"class_type": "PrimitiveInt", "inputs": {"value": 768}},
            "31": {"class_type": "StringConcatenate", "inputs": {"string_a": "x", "text": "a fox"}},
            "bad": 7,
            "loop": {"class_type": "KSampler", "inputs": {"latent_image": ["loop", 0], "model": ["loop", 0]}}
        })
    }

    #[test]
    fn the_first_pass_sampler_is_followed() {
        let g = PromptGraph::parse(&api()).unwrap();
        assert_eq!(g.len(), 13);
        assert_eq!(g.main_sampler(), Some("3"));
        let p = g.generation();
        assert_eq!(p.seed, Some(156680208700286));
        assert_eq!((p.steps, p.cfg_scale), (Some(20), Some(8.0)));
        assert_eq!((p.sampler.as_deref(), p.scheduler.as_deref()), (Some("euler"), Some("normal")));
        assert_eq!(p.model.as_deref(), Some("sd15.safetensors"));
        assert_eq!(
            p.loras,
            [
                Lora { name: "a.safetensors".into(), weight: Some(0.5), hash: None },
                Lora { name: "b.safetensors".into(), weight: Some(1.0), hash: None },
            ]
        );
        assert_eq!(p.prompt.as_deref(), Some("a fox"));
        assert_eq!(p.negative_prompt.as_deref(), Some("blurry"));
        assert_eq!((p.width, p.height), (Some(512), Some(768)));
        assert_eq!(p.extra.get("denoise").map(String::as_str), Some("1"));
    }

    #[test]
    fn sampler_custom_advanced_reads_its_helpers() {
        let v = json!({
            "1": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["2", 0], "guider": ["3", 0],
                "sampler": ["4", 0], "sigmas": ["5", 0], "latent_image": ["6", 0]}},
            "2": {"class_type": "RandomNoise", "inputs": {"noise_seed": 42}},
            "3": {"class_type": "CFGGuider", "inputs": {"cfg": 3.5, "model": ["7", 0], "positive": ["8", 0],
                "negative": ["8", 0]}},
            "4": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
            "5": {"class_type": "BasicScheduler", "inputs": {"scheduler": "simple", "steps": 25, "denoise": 1,
                "model": ["7", 0]}},
            "6": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 1024, "height": 1024}},
            "7": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors"}},
            "8": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse"}}
        });
        let p = PromptGraph::parse(&v).unwrap().generation();
        assert_eq!((p.seed, p.steps, p.cfg_scale), (Some(42), Some(25), Some(3.5)));
        assert_eq!((p.sampler.as_deref(), p.scheduler.as_deref()), (Some("euler"), Some("simple")));
        assert_eq!(p.model.as_deref(), Some("flux1-dev.safetensors"));
        assert_eq!(p.prompt.as_deref(), Some("a lighthouse"));
        assert_eq!((p.width, p.height), (Some(1024), Some(1024)));
    }

    #[test]
    fn hostile_graphs_give_nothing_quietly() {
        assert!(PromptGraph::parse(&json!([1, 2])).is_err());
        assert_eq!(
            PromptGraph::parse(&json!({})).unwrap().generation(),
            GenerationParams::default()
        );
        // A cycle through every kind of walk.
        let v = json!({
            "1": {"class_type": "KSampler", "inputs": {"seed": ["2", 0], "model": ["2", 0],
                "positive": ["2", 0], "latent_image": ["2", 0]}},
            "2": {"class_type": "Reroute", "inputs": {"x": ["2", 0], "seed": ["1", 0]}}
        });
        let p = PromptGraph::parse(&v).unwrap().generation();
        assert_eq!(p, GenerationParams::default());
    }

    #[test]
    fn a_workflow_becomes_a_prompt_graph() {
        let w = json!({
            "nodes": [
                {"id": 3, "type": "KSampler", "mode": 0, "inputs": [
                    {"name": "model", "link": 1}, {"name": "positive", "link": 4},
                    {"name": "negative", "link": 6}, {"name": "latent_image", "link": 2}],
                 "widgets_values": [777, "randomize", 30, 6.5, "dpmpp_2m", "karras", 1]},
                {"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": ["xl.safetensors"]},
                {"id": 5, "type": "EmptyLatentImage", "widgets_values": [832, 1216, 1]},
                {"id": 6, "type": "CLIPTextEncode", "inputs": [{"name": "clip", "link": null}],
                 "widgets_values": ["a castle"]},
                {"id": 7, "type": "CLIPTextEncode", "widgets_values": ["fog"]},
                {"id": 8, "type": "LoraLoader", "mode": 4, "inputs": [{"name": "model", "link": 9}],
                 "widgets_values": ["off.safetensors", 1, 1]},
                {"id": 9, "type": "LoraLoader", "mode": 2, "widgets_values": ["muted.safetensors", 1, 1]},
                {"type": "Note"}
            ],
            "links": [[1, 8, 0, 3, 0, "MODEL"], [9, 4, 0, 8, 0, "MODEL"],
                      {"id": 4, "origin_id": 6, "origin_slot": 0, "target_id": 3, "target_slot": 1},
                      [6, 7, 0, 3, 2, "CONDITIONING"], [2, 5, 0, 3, 3, "LATENT"], "junk"]
        });
        let wf = Workflow::parse(&w).unwrap();
        assert_eq!(wf.node_count(), 7);
        let p = wf.generation();
        assert_eq!((p.seed, p.steps, p.cfg_scale), (Some(777), Some(30), Some(6.5)));
        assert_eq!(
            (p.sampler.as_deref(), p.scheduler.as_deref()),
            (Some("dpmpp_2m"), Some("karras"))
        );
        assert_eq!(p.model.as_deref(), Some("xl.safetensors"));
        assert!(p.loras.is_empty());
        assert_eq!(
            (p.prompt.as_deref(), p.negative_prompt.as_deref()),
            (Some("a castle"), Some("fog"))
        );
        assert_eq!((p.width, p.height), (Some(832), Some(1216)));
        assert!(Workflow::parse(&json!({"links": []})).is_err());
        // Without the control value the widgets still line up.
        let w = json!({"nodes": [{"id": 1, "type": "KSampler", "widgets_values": [5, 10, 2, "euler", "normal", 1]}]});
        let p = Workflow::parse(&w).unwrap().generation();
        assert_eq!((p.seed, p.steps, p.cfg_scale), (Some(5), Some(10), Some(2.0)));
    }
}
