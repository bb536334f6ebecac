#!/usr/bin/env python3
"""Writes the benchmark archives: Docker <= 24 style docker-archives holding one large layer
(or, with --layers N, N layers of SIZE/N each, with different contents).

One archive per --compression (default: none gzip), each holding the same layers:

  plain.tar  the layers uncompressed (what `docker save` writes)
  gzip.tar   gzip -6 (what skopeo and registries hold)
  zstd.tar   zstd -3 (the `zstd` CLI, streamed through a pipe)
  xz.tar     xz -0 (python's lzma; -6 compresses this text at 1 MiB/s)
  bzip2.tar  bzip2 -9 (python's bz2)

The layer holds one file of base64 text from a seeded generator: reproducible, and about as
compressible as real binaries (gzip takes it to ~76%). Everything streams; memory stays small.
With --keep-blobs, each layer's blob is also left beside the archive as
`<name>.layer<i>` for each compressed archive (what the `<tool> -dc | openssl` floors read).
"""
import argparse, bz2, gzip, hashlib, io, json, lzma, os, random, shutil, subprocess, tarfile

CHUNK = 1 << 20
NAMES = {"none": "plain", "gzip": "gzip", "zstd": "zstd", "xz": "xz", "bzip2": "bzip2"}

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

def compress(src_path, dst_path, kind):
    """Writes `src_path` compressed with `kind` to `dst_path`, streaming."""
    if kind == "zstd":
        with open(src_path, "rb") as src, open(dst_path, "wb") as dst:
            subprocess.run(["zstd", "-q", "-3", "-c"], stdin=src, stdout=dst, check=True)
        return
    with open(src_path, "rb") as src, open(dst_path, "wb") as raw:
        if kind == "gzip":
            dst = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0)
        elif kind == "xz":
            # Preset 0: the generator's base64 text costs xz -6 1 MiB/s here (0 does 5 MiB/s),
            # and the decoder the benchmark times is barely slower for -0 than for -6.
            dst = lzma.LZMAFile(raw, mode="wb", format=lzma.FORMAT_XZ, preset=0)
        elif kind == "bzip2":
            dst = bz2.BZ2File(raw, mode="wb", compresslevel=9)
        else:
            raise ValueError(kind)
        with dst:
            shutil.copyfileobj(src, dst, CHUNK)

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
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--compression", nargs="+", choices=list(NAMES), default=["none", "gzip"],
                   help="one archive per compression (default: none gzip)")
    p.add_argument("--keep-blobs", action="store_true",
                   help="leave each layer blob beside the archives as <name>.layer<i>")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    layers, diff_ids = [], []
    for i in range(a.layers):
        layer = os.path.join(a.out, f"layer{i}.tar")
        diff_ids.append(write_layer(layer, (a.size_mib << 20) // a.layers, seed=i))
        layers.append(layer)
    written = {}
    for kind in dict.fromkeys(a.compression):
        name = NAMES[kind]
        blobs = []
        for i, layer in enumerate(layers):
            blob = os.path.join(a.out, f"{name}.layer{i}")
            if kind == "none":  # the floor reads plain.tar itself: no blob kept
                blobs.append(layer)
            else:
                compress(layer, blob, kind)
                blobs.append(blob)
        archive = os.path.join(a.out, f"{name}.tar")
        write_archive(archive, blobs, diff_ids, f"example.test/bench:{name}")
        written[name] = archive
        if not a.keep_blobs:
            for b in blobs:
                if b not in layers: os.remove(b)
    for f in layers: os.remove(f)
    print(json.dumps({"diff_ids": ["sha256:" + d for d in diff_ids], "archives": written}))

if __name__ == "__main__":
    main()
