"""The board runtime: numpy only (plus pynq for the pynq backend) — never TensorFlow, QKeras or hls4ml.

It runs on the PYNQ-Z2's own Python (images v2.7–v3.1: Python 3.8–3.10) and anywhere else via csim.
"""
from __future__ import annotations

from .accelerator import Accelerator, BenchResult
from .manifest import Bundle, Manifest
from .progress import Progress, Update

__all__ = ["Accelerator", "BenchResult", "Bundle", "Manifest", "Progress", "Update"]
