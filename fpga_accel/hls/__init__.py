"""The boundary to hls4ml: everything fpga_accel changes in hls4ml, and what it reads back from it.

- :mod:`.boundary` — the one context manager through which hls4ml's flows, passes and layer-handler
  registries are changed (checked first, restored on exit), and the supported-version check;
- :mod:`.probe` — the affine map a Keras (Q)BatchNormalization computes, probed from the live layer;
- :mod:`.layers` — the description of a converted layer that fpga_accel.json and the estimator read.

Nothing here imports a pipeline stage, so both the convert stage and ``analysis`` can import it.
"""
