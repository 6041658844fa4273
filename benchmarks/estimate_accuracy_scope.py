"""Which hls4ml a project's nnet_utils come from: the check behind the calibration set's scope rule.

Why: the estimator describes hls4ml 0.5 and later as released (``calibration.SCOPE_RULE``); a design whose
synthesised nnet_utils headers match no commit of fastmachinelearning/hls4ml (modified by its author, or from
a fork), or match only releases older than 0.5, is out of scope. Headers are compared with every commit's
after dropping line ends, whitespace, comments, prints and ``#include`` lines; ``nnet_helpers.h`` (testbench)
and ``nnet_code_gen.h`` (generated per project) are skipped. Needs git snapshots (bare repositories) of hls4ml
and of the design's repository; prints one JSON line.

    python benchmarks/estimate_accuracy_scope.py HLS4ML_GIT DESIGN_GIT COMMIT FIRMWARE_DIR
"""
from __future__ import annotations

import collections
import hashlib
import json
import re
import subprocess
import sys
from typing import Dict, List, Optional, Sequence, Set

SKIP = {"nnet_code_gen.h", "nnet_helpers.h"}


def norm(blob: bytes) -> str:
    """A header's code without what cannot change the hardware (comments, prints, whitespace, includes)."""
    s = blob.decode("latin1").replace("\r", "")
    s = re.sub(r"/\*.*?\*/", "", s, flags=re.S)
    s = re.sub(r"//[^\n]*", "", s)
    lines = [re.sub(r"\s+", "", line) for line in s.split("\n")]
    keep = [l for l in lines if l and not l.startswith("#include") and not any(w in l for w in ("cout", "cerr", "printf"))]
    return hashlib.sha1("\n".join(keep).encode()).hexdigest()


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


def main(argv: Optional[List[str]] = None) -> int:
    hls4ml, repo, commit, firmware = (argv or sys.argv[1:])[:4]
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
