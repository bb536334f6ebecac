#!/usr/bin/env python3
"""Writes the benchmark archives: Docker <= 24 style docker-archives holding one large layer.

  plain.tar  the layer uncompressed (what `docker save` writes)
  gzip.tar   the same layer gzip-compressed (what skopeo and registries hold)

The layer holds one file of base64 text from a seeded generator: reproducible, and about as
compressible as real binaries (gzip takes it to ~76%). Everything streams; memory stays small.
"""
import argparse, gzip, hashlib, io, json, os, random, tarfile

CHUNK = 1 << 20

def write_layer(path, size):
    """A tar with one regular file of `size` bytes; returns sha256 of the tar."""
    rng = random.Random(20261123)
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

def write_archive(out, layer_path, diff_id, name):
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
                         "history": [{"created": "1970-01-01T00:00:00Z"}],
                         "created": "1970-01-01T00:00:00Z"}, separators=(",", ":")).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": config_hex + ".json", "RepoTags": [name],
                            "Layers": ["layer/layer.tar"]}]).encode()
    with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as t:
        for member, data in [(config_hex + ".json", config), ("manifest.json", manifest)]:
            info = tarfile.TarInfo(member); info.size = len(data); info.mtime = 0
            t.addfile(info, io.BytesIO(data))
        t.add(layer_path, arcname="layer/layer.tar")

def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    layer = os.path.join(a.out, "layer.tar")
    diff_id = write_layer(layer, a.size_mib << 20)
    write_archive(os.path.join(a.out, "plain.tar"), layer, diff_id, "example.test/bench:plain")
    gz = os.path.join(a.out, "layer.tar.gz")
    with open(layer, "rb") as src, open(gz, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as dst:
            while chunk := src.read(CHUNK): dst.write(chunk)
    write_archive(os.path.join(a.out, "gzip.tar"), gz, diff_id, "example.test/bench:gzip")
    os.remove(layer); os.remove(gz)
    print(json.dumps({"diff_id": "sha256:" + diff_id}))

if __name__ == "__main__":
    main()
