#!/usr/bin/env python3
"""Makes the media fixtures of core/tests/media.rs, and the seeds of the png_metadata, exif and a1111 fuzz targets.

Each image is saved with Pillow and piexif, the libraries AUTOMATIC1111 (and Forge) and ComfyUI use, in each
tool's own layout:

- a1111.png   tEXt "parameters", as A1111's images.save_image_with_geninfo (PngInfo.add_text)
- a1111.jpg   EXIF UserComment, piexif.helper.UserComment.dump(text, encoding="unicode") inserted with
              piexif.insert, as A1111 does for JPEG (the text has non-ASCII and non-BMP characters)
- a1111.webp  the same for WebP
- comfyui.png tEXt "prompt" (API graph) and "workflow" (UI graph), as ComfyUI's SaveImage (json.dumps, add_text)
- comfyui-compressed.png  the same graphs in a compressed iTXt ("prompt") and a zTXt ("workflow")
- comfyui.webp  EXIF 0x0110 (Model) "prompt:{json}" and 0x010F (Make) "workflow:{json}", as ComfyUI's
              SaveAnimatedWEBP (two frames, save_all=True)
- none.png    no metadata

and the texts the Rust tests compare with: a1111-parameters.txt, a1111-jpeg-parameters.txt,
comfyui-prompt.json, comfyui-workflow.json (exactly the JSON embedded).

Run it from anywhere with a Python that has Pillow and piexif (`pip install pillow piexif`); it rewrites the
files beside it and the seeds in fuzz/corpus/{png_metadata,exif,a1111}/. The pixels are 8x8 stand-ins: the
sizes in the metadata are those of the (pretend) generation.
"""

import io
import json
import os
import struct

import piexif
import piexif.helper
from PIL import Image
from PIL.PngImagePlugin import PngInfo

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "..", ".."))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def quote(text):
    """A1111's modules/infotext_utils.quote."""
    if "," not in str(text) and "\n" not in str(text) and ":" not in str(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def infotext(prompt, negative_prompt, generation_params):
    """A1111's processing.create_infotext layout."""
    generation_params_text = ", ".join(
        [k if k == v else f"{k}: {quote(v)}" for k, v in generation_params.items() if v is not None]
    )
    negative_prompt_text = f"\nNegative prompt: {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative_prompt_text}\n{generation_params_text}".strip()


A1111_TEXT = infotext(
    'masterpiece, a "red" fox in snow,\n(detailed fur:1.2), <lora:fox_style_v2:0.8> <lora:snow-detail:1>',
    "lowres, bad anatomy\nwatermark",
    {
        "Steps": 28,
        "Sampler": "DPM++ 2M",
        "Schedule type": "Karras",
        "CFG scale": 6.5,
        "Seed": 3141592653,
        "Size": "512x768",
        "Model hash": "6ce0161689",
        "Model": "v1-5-pruned-emaonly",
        "Denoising strength": None,
        "ADetailer prompt": 'a "smiling" face, detailed',
        "Lora hashes": "fox_style_v2: 1a2b3c4d5e6f, snow-detail: 0f9e8d7c6b5a",
        "Emphasis": "Original",
        "Version": "v1.10.1",
    },
)

A1111_JPEG_TEXT = infotext(
    "café au lait, 狐 🦊 <lora:fox_style_v2:0.65>",
    "",
    {
        "Steps": 20,
        "Sampler": "Euler a",
        "Schedule type": "Automatic",
        "CFG scale": 7,
        "Seed": 42,
        "Size": "832x1216",
        "Model hash": "31e35c80fc",
        "Model": "sd_xl_base_1.0",
        "Lora hashes": "fox_style_v2: 1a2b3c4d5e6f",
        "Version": "f2.0.1v1.10.1-previous-313-g8a042934",
    },
)

# ComfyUI's default graph with two LoRAs, as the prompt it runs (API format).
PROMPT = {
    "3": {
        "inputs": {
            "seed": 156680208700286,
            "steps": 20,
            "cfg": 8,
            "sampler_name": "euler_ancestral",
            "scheduler": "karras",
            "denoise": 1,
            "model": ["11", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
        "class_type": "KSampler",
        "_meta": {"title": "KSampler"},
    },
    "4": {
        "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"},
        "class_type": "CheckpointLoaderSimple",
        "_meta": {"title": "Load Checkpoint"},
    },
    "5": {
        "inputs": {"width": 512, "height": 768, "batch_size": 1},
        "class_type": "EmptyLatentImage",
        "_meta": {"title": "Empty Latent Image"},
    },
    "6": {
        "inputs": {"text": "beautiful scenery, café terrace, \"golden\" hour", "clip": ["11", 1]},
        "class_type": "CLIPTextEncode",
        "_meta": {"title": "CLIP Text Encode (Prompt)"},
    },
    "7": {
        "inputs": {"text": "text, watermark", "clip": ["11", 1]},
        "class_type": "CLIPTextEncode",
        "_meta": {"title": "CLIP Text Encode (Prompt)"},
    },
    "8": {
        "inputs": {"samples": ["3", 0], "vae": ["4", 2]},
        "class_type": "VAEDecode",
        "_meta": {"title": "VAE Decode"},
    },
    "9": {
        "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]},
        "class_type": "SaveImage",
        "_meta": {"title": "Save Image"},
    },
    "10": {
        "inputs": {
            "lora_name": "styles/fox_style_v2.safetensors",
            "strength_model": 0.8,
            "strength_clip": 0.8,
            "model": ["4", 0],
            "clip": ["4", 1],
        },
        "class_type": "LoraLoader",
        "_meta": {"title": "Load LoRA"},
    },
    "11": {
        "inputs": {
            "lora_name": "snow-detail.safetensors",
            "strength_model": 1,
            "strength_clip": 1,
            "model": ["10", 0],
            "clip": ["10", 1],
        },
        "class_type": "LoraLoader",
        "_meta": {"title": "Load LoRA"},
    },
}


def ui_node(id_, type_, order, inputs, outputs, widgets):
    return {
        "id": id_,
        "type": type_,
        "pos": [100 * order, 100],
        "size": [315, 100],
        "flags": {},
        "order": order,
        "mode": 0,
        "inputs": [{"name": n, "type": t, "link": l} for n, t, l in inputs],
        "outputs": [{"name": n, "type": t, "links": ls, "slot_index": i} for i, (n, t, ls) in enumerate(outputs)],
        "properties": {"Node name for S&R": type_},
        "widgets_values": widgets,
    }


# The same graph as the UI saves it (links: [id, origin node, origin slot, target node, target slot, type]).
WORKFLOW = {
    "last_node_id": 11,
    "last_link_id": 14,
    "nodes": [
        ui_node(4, "CheckpointLoaderSimple", 0, [], [("MODEL", "MODEL", [10]), ("CLIP", "CLIP", [11]), ("VAE", "VAE", [8])],
                ["v1-5-pruned-emaonly.safetensors"]),
        ui_node(10, "LoraLoader", 1, [("model", "MODEL", 10), ("clip", "CLIP", 11)],
                [("MODEL", "MODEL", [12]), ("CLIP", "CLIP", [13])], ["styles/fox_style_v2.safetensors", 0.8, 0.8]),
        ui_node(11, "LoraLoader", 2, [("model", "MODEL", 12), ("clip", "CLIP", 13)],
                [("MODEL", "MODEL", [1]), ("CLIP", "CLIP", [3, 5])], ["snow-detail.safetensors", 1, 1]),
        ui_node(6, "CLIPTextEncode", 3, [("clip", "CLIP", 3)], [("CONDITIONING", "CONDITIONING", [4])],
                ["beautiful scenery, café terrace, \"golden\" hour"]),
        ui_node(7, "CLIPTextEncode", 4, [("clip", "CLIP", 5)], [("CONDITIONING", "CONDITIONING", [6])],
                ["text, watermark"]),
        ui_node(5, "EmptyLatentImage", 5, [], [("LATENT", "LATENT", [2])], [512, 768, 1]),
        ui_node(3, "KSampler", 6,
                [("model", "MODEL", 1), ("positive", "CONDITIONING", 4), ("negative", "CONDITIONING", 6),
                 ("latent_image", "LATENT", 2)],
                [("LATENT", "LATENT", [7])], [156680208700286, "randomize", 20, 8, "euler_ancestral", "karras", 1]),
        ui_node(8, "VAEDecode", 7, [("samples", "LATENT", 7), ("vae", "VAE", 8)], [("IMAGE", "IMAGE", [9])], []),
        ui_node(9, "SaveImage", 8, [("images", "IMAGE", 9)], [], ["ComfyUI"]),
    ],
    "links": [
        [1, 11, 0, 3, 0, "MODEL"],
        [2, 5, 0, 3, 3, "LATENT"],
        [3, 11, 1, 6, 0, "CLIP"],
        [4, 6, 0, 3, 1, "CONDITIONING"],
        [5, 11, 1, 7, 0, "CLIP"],
        [6, 7, 0, 3, 2, "CONDITIONING"],
        [7, 3, 0, 8, 0, "LATENT"],
        [8, 4, 2, 8, 1, "VAE"],
        [9, 8, 0, 9, 0, "IMAGE"],
        [10, 4, 0, 10, 0, "MODEL"],
        [11, 4, 1, 10, 1, "CLIP"],
        [12, 10, 0, 11, 0, "MODEL"],
        [13, 10, 1, 11, 1, "CLIP"],
    ],
    "groups": [],
    "config": {},
    "extra": {"ds": {"scale": 1, "offset": [0, 0]}},
    "version": 0.4,
}

EXTRA_PNGINFO = {"workflow": WORKFLOW}


def image(color=(200, 80, 40)):
    return Image.new("RGB", (8, 8), color)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def path(name):
    return os.path.join(HERE, name)


def a1111_png():
    # images.save_image_with_geninfo: existing_pnginfo["parameters"] = geninfo; PngInfo().add_text(k, str(v)).
    pnginfo = PngInfo()
    for k, v in {"parameters": A1111_TEXT}.items():
        pnginfo.add_text(k, str(v))
    image().save(path("a1111.png"), format="PNG", quality=80, pnginfo=pnginfo)


def a1111_exif(ext, fmt, text):
    # images.save_image_with_geninfo for .jpg/.jpeg/.webp: save, then piexif.insert of a UserComment.
    fn = path(f"a1111.{ext}")
    image().save(fn, format=fmt, quality=80, lossless=False)
    exif_bytes = piexif.dump(
        {"Exif": {piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump(text or "", encoding="unicode")}}
    )
    piexif.insert(exif_bytes, fn)
    return exif_bytes


def comfyui_png():
    # nodes.SaveImage.save_images.
    metadata = PngInfo()
    metadata.add_text("prompt", json.dumps(PROMPT))
    for x in EXTRA_PNGINFO:
        metadata.add_text(x, json.dumps(EXTRA_PNGINFO[x]))
    image((40, 80, 200)).save(path("comfyui.png"), pnginfo=metadata, compress_level=4)


def comfyui_compressed_png():
    metadata = PngInfo()
    metadata.add_itxt("prompt", json.dumps(PROMPT), zip=True)
    metadata.add_text("workflow", json.dumps(WORKFLOW), zip=True)
    image((40, 200, 80)).save(path("comfyui-compressed.png"), pnginfo=metadata, compress_level=4)


def comfyui_webp():
    # SaveAnimatedWEBP.save_images (and comfy_api's _create_webp_metadata).
    pil_images = [image((10, 10, 10)), image((250, 250, 250))]
    metadata = pil_images[0].getexif()
    metadata[0x0110] = "prompt:{}".format(json.dumps(PROMPT))
    inital_exif = 0x010F
    for x in EXTRA_PNGINFO:
        metadata[inital_exif] = "{}:{}".format(x, json.dumps(EXTRA_PNGINFO[x]))
        inital_exif -= 1
    pil_images[0].save(
        path("comfyui.webp"),
        save_all=True,
        duration=int(1000.0 / 6.0),
        append_images=pil_images[1:],
        exif=metadata,
        lossless=False,
        quality=80,
        method=4,
    )
    return metadata.tobytes()


def exif_loop():
    """A little-endian TIFF whose IFD0 has an Exif pointer to itself and a UserComment out of bounds."""
    entries = [
        (0x0110, 2, 8, 0xFFFFFF00),  # Model: offset far outside
        (0x8769, 4, 1, 8),  # Exif IFD -> IFD0 itself
        (0x9286, 7, 16, 0x7FFFFFFF),  # UserComment: out of bounds
    ]
    out = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        out += struct.pack("<HHII", tag, kind, count, value)
    return out + struct.pack("<I", 8)  # next IFD: itself


def main():
    a1111_png()
    jpeg_exif = a1111_exif("jpg", "JPEG", A1111_JPEG_TEXT)
    a1111_exif("webp", "WEBP", A1111_JPEG_TEXT)
    comfyui_png()
    comfyui_compressed_png()
    webp_exif = comfyui_webp()
    image((0, 0, 0)).save(path("none.png"))
    write(path("a1111-parameters.txt"), A1111_TEXT.encode("utf-8"))
    write(path("a1111-jpeg-parameters.txt"), A1111_JPEG_TEXT.encode("utf-8"))
    write(path("comfyui-prompt.json"), json.dumps(PROMPT).encode("utf-8"))
    write(path("comfyui-workflow.json"), json.dumps(WORKFLOW).encode("utf-8"))

    for name in ["a1111.png", "comfyui.png", "comfyui-compressed.png", "none.png"]:
        with open(path(name), "rb") as f:
            write(os.path.join(CORPUS, "png_metadata", "seed-" + name), f.read())
    strip = lambda b: b[6:] if b.startswith(b"Exif\x00\x00") else b
    write(os.path.join(CORPUS, "exif", "seed-a1111-usercomment.tiff"), strip(jpeg_exif))
    write(os.path.join(CORPUS, "exif", "seed-comfyui-webp.tiff"), strip(webp_exif))
    write(os.path.join(CORPUS, "exif", "seed-loop.tiff"), exif_loop())
    write(os.path.join(CORPUS, "a1111", "seed-a1111.txt"), A1111_TEXT.encode("utf-8"))
    write(os.path.join(CORPUS, "a1111", "seed-forge-unicode.txt"), A1111_JPEG_TEXT.encode("utf-8"))
    write(os.path.join(CORPUS, "a1111", "seed-prompt-only.txt"), b"a cat\nstyle: noir, mood: calm")
    write(
        os.path.join(CORPUS, "a1111", "seed-quotes.txt"),
        b'x\nAb: "b" c, Dd: "e, \\"f\\"", Ee: "\\q", Lora hashes: "a: 1, b:2", Size: 5x6, Steps: 7',
    )


if __name__ == "__main__":
    main()
