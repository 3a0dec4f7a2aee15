#!/usr/bin/env python3
"""zxing-cpp side of `lotse scan bench`: decodes the same luma buffers that Lotse decodes.

Usage: bench_zxingcpp.py MANIFEST.tsv EMPTY.gray CODE.gray FRAMES
MANIFEST lines: set_index, path to raw 8-bit luma, width, height, raw(0/1), expected hex.
Prints one JSON object: per-set correct counts and ms per image, and the median ms per
1280x720 frame with and without a code, for QR only (what the kiosk camera reads) and for
all five formats. Installs the `zxing-cpp` wheel from PyPI with pip when it is missing.
"""
import json
import statistics
import subprocess
import sys
import time

try:
    import zxingcpp
except ImportError:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "zxing-cpp"]
    if subprocess.call(cmd, stdout=sys.stderr) != 0:
        # Debian's Python refuses system-wide installs without this flag (PEP 668).
        subprocess.check_call(cmd + ["--break-system-packages"], stdout=sys.stderr)
    import zxingcpp

ALL = (zxingcpp.BarcodeFormat.QRCode | zxingcpp.BarcodeFormat.MicroQRCode
       | zxingcpp.BarcodeFormat.DataMatrix | zxingcpp.BarcodeFormat.PDF417
       | zxingcpp.BarcodeFormat.Aztec)
QR = zxingcpp.BarcodeFormat.QRCode


def view(path, w, h):
    with open(path, "rb") as f:
        return memoryview(f.read()).cast("B", (h, w))


def matches(barcodes, expected, raw):
    for b in barcodes:
        if b.text.encode("utf-8") == expected or b.bytes == expected:
            return True
        if raw:
            try:
                if b.text.encode("latin-1") == expected:
                    return True
            except UnicodeEncodeError:
                pass
    return False


def frame_times(img, formats, frames):
    times, hits = [], 0
    for _ in range(frames):
        t = time.perf_counter()
        found = zxingcpp.read_barcodes(img, formats=formats)
        times.append(time.perf_counter() - t)
        hits += bool(found)
    return 1000 * statistics.median(times), hits


def main():
    manifest, empty, code, frames = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    sets = {}
    hits = []
    with open(manifest) as f:
        for line in f:
            si, path, w, h, raw, hexp = line.rstrip("\n").split("\t")
            img = view(path, int(w), int(h))
            t = time.perf_counter()
            found = zxingcpp.read_barcodes(img, formats=ALL)
            dt = time.perf_counter() - t
            s = sets.setdefault(int(si), {"correct": 0, "total": 0, "seconds": 0.0})
            s["total"] += 1
            s["seconds"] += dt
            if matches(found, bytes.fromhex(hexp), raw == "1"):
                s["correct"] += 1
                hits.append(path)
    try:
        from importlib.metadata import version
        ver = version("zxing-cpp")
    except Exception:  # noqa: BLE001 - only for the report's title
        ver = getattr(zxingcpp, "__version__", "?")
    out = {"version": ver, "sets": [], "read": hits}
    for i in range(max(sets) + 1 if sets else 0):
        s = sets.get(i, {"correct": 0, "total": 0, "seconds": 0.0})
        out["sets"].append({"correct": s["correct"], "total": s["total"],
                            "ms_per_image": 1000 * s["seconds"] / max(s["total"], 1)})
    for name, path in (("empty", empty), ("code", code)):
        img = view(path, 1280, 720)
        for label, formats in (("qr", QR), ("all", ALL)):
            ms, hits = frame_times(img, formats, frames)
            out[f"{name}_{label}_ms"] = ms
            out[f"{name}_{label}_hits"] = hits
    print(json.dumps(out))


if __name__ == "__main__":
    main()
