"""Shared by the stand-in tools: append this command line to $STANDIN_RECORD (one JSON list a line)."""
import json
import os
import sys
from pathlib import Path


def record() -> None:
    path = os.environ.get("STANDIN_RECORD")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps([Path(sys.argv[0]).name, *sys.argv[1:], f"cwd={os.getcwd()}"]) + "\n")
