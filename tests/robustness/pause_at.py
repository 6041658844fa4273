"""Run the fpga-accel CLI with one of its functions made to stop at a known point, so a test can
interrupt it exactly there (not at whatever moment a timer happens to hit).

    python pause_at.py FLAG MODULE:ATTR[.METHOD] before|after [NTH] -- fpga-accel arguments...

When the patched function is called for the NTH time (default 1), FLAG is created and the process
sleeps — before or after the real call — until the test sends its signal.
"""
import importlib
import sys
import time
from pathlib import Path


def main() -> int:
    split = sys.argv.index("--")
    flag, target, when, *nth = sys.argv[1:split]
    argv = sys.argv[split + 1:]
    module_name, attr = target.split(":")
    owner = importlib.import_module(module_name)
    *path, name = attr.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    calls = {"n": 0}
    stop_at = int(nth[0]) if nth else 1

    def paused(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] != stop_at:
            return original(*args, **kwargs)
        result = original(*args, **kwargs) if when == "after" else None
        Path(flag).touch()
        time.sleep(600)
        return result if when == "after" else original(*args, **kwargs)

    setattr(owner, name, paused)
    from fpga_accel.cli import main as cli

    return cli(argv)


if __name__ == "__main__":
    sys.exit(main())
