#!/usr/bin/env python3
"""Generates a media-like tree for benchmarks, reproducibly from a seed.

Default profile "media" (about 20,000 files, ~2.3 GB): 16,000 of 1-16 kB (prompts, thumbnails, json),
3,500 of 50-400 kB (images), 500 of 1-4 MB (large images, small models), two of 64 MB (checkpoints).
Profile "small": N files of 64-512 bytes in 1,000 folders (the 1,000,000-file no-change test).
"""
import argparse
import os
import random


def write(path, size, rng):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n


def media(root, rng, scale):
    folders = ["outputs/txt2img-images/2025-10-%02d" % d for d in range(1, 29)] + [
        "outputs/img2img-images/2025-10-%02d" % d for d in range(1, 15)
    ]
    n = 0
    for i in range(int(16000 * scale)):
        d = rng.choice(folders)
        ext = rng.choice([".json", ".txt", ".webp"])
        write(os.path.join(root, d, "meta-%05d%s" % (i, ext)), rng.randint(1024, 16 * 1024), rng)
        n += 1
    for i in range(int(3500 * scale)):
        d = rng.choice(folders)
        write(os.path.join(root, d, "%05d-%d.png" % (i, rng.randint(10**9, 10**10))), rng.randint(50_000, 400_000), rng)
        n += 1
    for i in range(int(500 * scale)):
        write(os.path.join(root, "models/loras", "lora-%03d.safetensors" % i), rng.randint(1 << 20, 4 << 20), rng)
        n += 1
    for i in range(2):
        write(os.path.join(root, "models/checkpoints", "ckpt-%d.safetensors" % i), 64 << 20, rng)
        n += 1
    return n


def small(root, rng, count):
    for i in range(count):
        d = os.path.join(root, "d%04d" % (i % 1000))
        if i < 1000:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "f%07d.txt" % i), "wb") as f:
            f.write(rng.randbytes(rng.randint(64, 512)))
    return count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--profile", choices=["media", "small"], default="media")
    ap.add_argument("--count", type=int, default=1_000_000, help="files for the small profile")
    ap.add_argument("--scale", type=float, default=1.0, help="file-count scale for the media profile")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    n = media(a.root, rng, a.scale) if a.profile == "media" else small(a.root, rng, a.count)
    print("generated %d files under %s" % (n, a.root))


if __name__ == "__main__":
    main()
