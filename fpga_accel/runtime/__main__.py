"""`python3 -m fpga_accel.runtime selftest BUNDLE [--backend B]` — what deploy runs on the board."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence

from ..errors import FpgaAccelError
from .accelerator import BACKENDS
from .selftest import EXIT_FAILED, result_line, selftest


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m fpga_accel.runtime")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("selftest", help="check hashes, run the bundle's test vectors, report agreement and speed")
    p.add_argument("bundle")
    p.add_argument("--backend", default="auto", choices=BACKENDS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="fpga-accel: %(message)s", stream=sys.stderr)
    try:
        result = selftest(args.bundle, backend=args.backend)
    except FpgaAccelError as exc:
        logging.getLogger("fpga_accel").error("%s", exc)
        return 1
    print(result.format())
    print(result_line(result))  # for deploy on the host: the result itself, not only its text
    return 0 if result.passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
