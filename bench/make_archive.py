#!/usr/bin/env python3
"""Writes the benchmark archives: Docker <= 24 style docker-archives holding one large layer
(or, with --layers N, N layers of SIZE/N each, with different contents).

  plain.tar  the layers uncompressed (what `docker save` writes)
  gzip.tar   the same layers gzip-compressed (what skopeo and registries hold)

The layer holds one file of base64 text from a seeded generator: reproducible, and about as
compressible as real binaries (gzip takes it to ~76%). Everything streams; memory stays small.
"""
import argparse, gzip, hashlib, io, json, os, random, tarfile

CHUNK = 1 << 20

def write_layer(path, size, seed=0):
    """A tar with one regular file of `size` bytes; returns sha256 of the tar."""
    rng = random.Random(20261123 + seed)
    class Gen(io.RawIOBase):
        def __init__(self): self.left = size
        def readable(self): return True
        def readinto(self, b):
            n = min(len(b), self.left)
            if n == 0: return 0
            raw = rng.randbytes((n * 3 + 3) // 4)
            data = __import__("base64").b64encode(raw)[:n]
            b[:n] = data; self.left -= n; return n
    with open(path, "wb") as f:
        with tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT) as t:
            info = tarfile.TarInfo("data/blob.txt"); info.size = size; info.mtime = 0
            t.addfile(info, io.BufferedReader(Gen(), CHUNK))
    return sha256_file(path)

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK): h.update(chunk)
    return h.hexdigest()

def write_archive(out, layer_paths, diff_ids, name):
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers",
                                    "diff_ids": ["sha256:" + d for d in diff_ids]},
                         "history": [{"created": "1970-01-01T00:00:00Z"} for _ in diff_ids],
                         "created": "1970-01-01T00:00:00Z"}, separators=(",", ":")).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    members = [f"layer{i}/layer.tar" for i in range(len(layer_paths))]
    manifest = json.dumps([{"Config": config_hex + ".json", "RepoTags": [name],
                            "Layers": members}]).encode()
    with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as t:
        for member, data in [(config_hex + ".json", config), ("manifest.json", manifest)]:
            info = tarfile.TarInfo(member); info.size = len(data); info.mtime = 0
            t.addfile(info, io.BytesIO(data))
        for path, member in zip(layer_paths, members):
            t.add(path, arcname=member)

def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    layers, diff_ids, gzs = [], [], []
    for i in range(a.layers):
        layer = os.path.join(a.out, f"layer{i}.tar")
        diff_ids.append(write_layer(layer, (a.size_mib << 20) // a.layers, seed=i))
        layers.append(layer)
    write_archive(os.path.join(a.out, "plain.tar"), layers, diff_ids, "example.test/bench:plain")
    for layer in layers:
        gz = layer + ".gz"
        with open(layer, "rb") as src, open(gz, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as dst:
                while chunk := src.read(CHUNK): dst.write(chunk)
        gzs.append(gz)
    write_archive(os.path.join(a.out, "gzip.tar"), gzs, diff_ids, "example.test/bench:gzip")
    for f in layers + gzs: os.remove(f)
    print(json.dumps({"diff_ids": ["sha256:" + d for d in diff_ids]}))

if __name__ == "__main__":
    main()
