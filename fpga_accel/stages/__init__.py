"""The pipeline's steps, one module each (quantize, convert, csim, build, bundle, deploy); their order and
the runner are in ``fpga_accel.flow``. No step imports another: they share the core objects instead."""
