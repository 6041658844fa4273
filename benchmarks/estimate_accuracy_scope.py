"""Which hls4ml a project's nnet_utils come from: the check behind the calibration set's scope rule.

Why: the estimator describes hls4ml 0.5 and later as released (``calibration.SCOPE_RULE``); a design whose
synthesised nnet_utils headers match no commit of fastmachinelearning/hls4ml (modified by its author, or from
a fork), or match only releases older than 0.5, is out of scope. Headers are compared with every commit's
after dropping line ends, whitespace, comments, prints and ``#include`` lines; ``nnet_helpers.h`` (testbench)
and ``nnet_code_gen.h`` (generated per project) are skipped. Needs git snapshots (bare repositories) of hls4ml
and of the design's repository; prints one JSON line. The same normalisation and hashes are what
``fpga-accel estimate`` checks a foreign project's headers against (``fpga_accel/analysis/scope.py``);
``--write-hashes`` rewrites that list (``nnet_utils_hashes.txt``) from a snapshot of hls4ml.

    python benchmarks/estimate_accuracy_scope.py HLS4ML_GIT DESIGN_GIT COMMIT FIRMWARE_DIR
    python benchmarks/estimate_accuracy_scope.py --write-hashes HLS4ML_GIT
"""
from __future__ import annotations

import collections
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fpga_accel.analysis.scope import HASHES_FILE, SKIP_HEADERS, header_hash  # noqa: E402

SKIP = set(SKIP_HEADERS)


def norm(blob: bytes) -> str:
    """A header's hash without what cannot change the hardware (the estimator's own: ``scope.header_hash``)."""
    return header_hash(blob)


def cat(repo: str, objs: Sequence[str]) -> Dict[str, Optional[bytes]]:
    out = subprocess.run(["git", "-C", repo, "cat-file", "--batch"], input="".join(o + "\n" for o in objs).encode(),
                         capture_output=True, check=True).stdout
    res: Dict[str, Optional[bytes]] = {}
    i = 0
    for o in objs:
        nl = out.index(b"\n", i)
        hdr = out[i:nl].split()
        if hdr[1] == b"missing":
            res[o], i = None, nl + 1
            continue
        size = int(hdr[2])
        res[o], i = out[nl + 1:nl + 1 + size], nl + 2 + size
    return res


def hls4ml_index(repo: str) -> "tuple[Dict[str, Set[str]], Set[str]]":
    """(normalised header -> release tags holding it, every normalised header of any commit)."""
    git = lambda *a: subprocess.run(["git", "-C", repo, *a], capture_output=True, text=True).stdout  # noqa: E731
    rows = []
    for tag in git("tag").split():
        for line in git("ls-tree", "-r", tag).splitlines():
            if re.search(r"nnet_utils/[^/]+\.h$", line):
                rows.append((line.split()[2], tag))
    hist = {l.split()[3] for l in git("log", "--all", "--format=", "--raw", "--no-abbrev", "--", "*nnet_utils/*.h").splitlines()
            if len(l.split()) > 3}
    blobs = cat(repo, sorted({b for b, _ in rows} | hist))
    tags: Dict[str, Set[str]] = collections.defaultdict(set)
    for b, t in rows:
        if blobs.get(b) is not None:
            tags[norm(blobs[b])].add(t)
    return tags, {norm(v) for v in blobs.values() if v is not None}


def write_hashes(hls4ml: str, path: Path = HASHES_FILE) -> int:
    """Write the hash of every nnet_utils header version in the snapshot's history; returns how many."""
    _, hist = hls4ml_index(hls4ml)
    head = subprocess.run(["git", "-C", hls4ml, "log", "-1", "--all", "--format=%H %cs"], capture_output=True,
                          text=True).stdout.strip()
    path.write_text("# nnet_utils/*.h of fastmachinelearning/hls4ml, every version in its history up to " + head +
                    "\n# normalised and hashed by fpga_accel.analysis.scope.header_hash; written by "
                    "benchmarks/estimate_accuracy_scope.py --write-hashes\n" + "".join(h + "\n" for h in sorted(hist)))
    return len(hist)


def main(argv: Optional[List[str]] = None) -> int:
    args = list(argv or sys.argv[1:])
    if args and args[0] == "--write-hashes":
        print(json.dumps({"hashes": write_hashes(args[1]), "file": str(HASHES_FILE)}))
        return 0
    hls4ml, repo, commit, firmware = args[:4]
    tags, hist = hls4ml_index(hls4ml)
    listing = subprocess.run(["git", "-C", repo, "ls-tree", "-r", commit, firmware.strip("./") + "/nnet_utils/"],
                             capture_output=True, text=True).stdout
    files = [l.split(None, 3) for l in listing.splitlines() if l.endswith(".h") and l.split("/")[-1] not in SKIP]
    blobs = cat(repo, [f[2] for f in files])
    match: Optional[Set[str]] = None
    foreign = []
    for _, _, b, path in files:
        if blobs[b] is None:
            continue
        h = norm(blobs[b])
        if h in tags:
            match = set(tags[h]) if match is None else match & tags[h]
        if h not in hist and h not in tags:
            foreign.append(path.split("/")[-1])
    print(json.dumps({"files": len(files), "not_in_hls4ml": foreign, "tags": sorted(match) if match is not None else None}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
