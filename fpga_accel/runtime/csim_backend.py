"""The csim backend: the bundle's (or project's) C++ compiled with g++ and called through ctypes."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .csim_build import build_library
from .csim_lib import CsimLibrary
from .progress import Progress
from .manifest import Bundle


class CsimBackend:
    name = "csim"

    def __init__(self, bundle: Bundle) -> None:
        build = build_library(bundle.layout)
        m = bundle.manifest
        self.library = CsimLibrary(build.library, m.project_name, int(np.prod(m.input_shape)),
                                   int(np.prod(m.output_shape)), build.weights_dir)

    def predict(self, x: np.ndarray, progress: Optional[Progress] = None) -> np.ndarray:
        return self.library.predict(x, progress)

    def close(self) -> None:
        pass
