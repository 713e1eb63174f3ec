//! ComfyUI: its graphs, as images carry them and as workflows are saved. [`graph`](crate::comfy::graph) reads the API-format prompt
//! graph and the UI-format workflow, for the media metadata of [`crate::media`] and for workflows alike.

pub mod graph;
