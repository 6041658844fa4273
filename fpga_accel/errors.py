"""The exception tree: every error a user can act on derives from FpgaAccelError.

Kept free of heavy imports because the board runtime raises these too.
"""


class FpgaAccelError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero, never a traceback."""


class ConfigError(FpgaAccelError):
    """A setting, model or project is not usable as given (unsupported layer, bad value, existing dir)."""


class InputError(FpgaAccelError, ValueError):
    """Data handed to predict/compare has the wrong shape or dtype, or holds NaN/inf (also a ValueError,
    what numpy and Keras users catch for bad arrays)."""


class ToolNotFoundError(FpgaAccelError):
    """An external tool (g++, vivado_hls, vivado, ssh) is not on PATH."""


class BuildError(FpgaAccelError):
    """An external build step ran and failed."""


class BoardError(FpgaAccelError):
    """The FPGA board, its overlay or its DMA cannot be used as asked."""


class SelfTestError(BoardError):
    """A bundle's self-test ran on the board and failed (``result``: its SelfTestResult, when the board
    reported one); the previous bundle is back in place."""

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result


class NotExactError(FpgaAccelError):
    """csim does not compute what the Keras model computes (``--strict`` convert, ``csim --reference``)."""


class Hls4mlChangedError(FpgaAccelError):
    """The installed hls4ml is not the one fpga_accel was written against: an unsupported version, or a
    pass, flow, layer handler or registry entry fpga_accel changes is missing or has another shape."""


class FpgaAccelDeprecationWarning(DeprecationWarning):
    """An old spelling of fpga_accel that still works for one release (a DeprecationWarning, so filters and
    ``pytest.warns(DeprecationWarning)`` written for those keep working). Its own class so that fpga_accel's
    test suite turns it into an error (pyproject's ``filterwarnings``) everywhere but inside ``pytest.warns``:
    fpga_accel's own code never takes a deprecated path without a test failing."""

