"""The boundary to hls4ml: everything fpga_accel changes in hls4ml, and what it reads back from it.

- :mod:`.boundary` — the one context manager through which hls4ml's flows, passes and layer-handler
  registries are changed (checked first, restored on exit), and the supported-version check;
- :mod:`.probe` — the affine map a Keras (Q)BatchNormalization computes, probed from the live layer;
- :mod:`.layers` — the description of a converted layer that fpga_accel.json and the estimator read;
- :mod:`.exact_types` — every HLS type derived from the quantizers, as one hls4ml pass in its own flow;
- :mod:`.keras3` — hls4ml's missing QKeras handlers for its Keras-3 parser;
- :mod:`.batchnorm_fold` — QConv2DBatchnorm's weights folded as QKeras folds them, written into the model;
- :mod:`.generated` — the checked edits and reads of hls4ml's generated text (bridge names, part, output folder;
  at build: design.tcl's utilization report, build_prj.tcl's options);
- :mod:`.foreign_project` — any hls4ml project (parameters.h, defines.h, the layer calls) read as data;
- :mod:`.multi_io` — the generated AXI wrapper, bridge and hls::axis wrapper rewritten for several ports;
- :mod:`.rebuild` — hls4ml's ModelGraph of a written project, rebuilt on demand (``Design.hls_model``).

Nothing here imports a pipeline stage, so both the convert stage and ``analysis`` can import it.
"""
