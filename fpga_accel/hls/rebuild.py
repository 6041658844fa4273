"""``Design.hls_model``: the hls4ml ``ModelGraph`` of a converted project, rebuilt from what convert wrote.

convert discards hls4ml's graph once the project is on disk; hls4ml's own tools (``plot_model``,
``profiling``, ``print_vivado_report``) want one. It is rebuilt from the project's reference model and
hls4ml_config.yml through the same boundary convert used (the exact-types flow registered, undone on
exit), then checked against fpga_accel.json: a graph whose layers or result types differ from the record
(an edited config, a different hls4ml) is refused rather than handed out as this design's.
The graph's ``output_dir`` is a sibling folder, so its ``write()``/``compile()`` never overwrite the project.
"""
from __future__ import annotations

from typing import Any

from ..errors import ConfigError

__all__ = ["rebuild_hls_model"]

def _read_config(path: Any) -> dict[str, Any]:
    import yaml

    from ..config import read_yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_constructor("!keras_model", lambda loader, node: loader.construct_scalar(node))
    try:  # the project's one bounded, safe YAML reader, with hls4ml's one data-only tag
        data = read_yaml(path, "hls4ml configuration", loader_class=_Loader)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; re-convert the project (`fpga-accel convert --force`)") from None
    if not isinstance(data, dict) or not isinstance(data.get("HLSConfig"), dict):
        raise ConfigError(f"{path} is not hls4ml's configuration: re-convert the project (`fpga-accel convert --force`)")
    return data


def rebuild_hls_model(design: Any) -> Any:
    """The hls4ml ``ModelGraph`` of ``design`` (a :class:`fpga_accel.Design`), checked against its record."""
    import hls4ml

    from .exact_types import exact_flows
    from ..model_io import load_model, strip_softmax

    cfg = _read_config(design.layout.hls4ml_config)
    model = load_model(design.layout.keras_model)
    if design.host_softmax:
        model = strip_softmax(model)
    accel = cfg.get("AcceleratorConfig") or {}
    backend = cfg.get("Backend", "VivadoAccelerator")
    with exact_flows(backend) as flows:
        graph = hls4ml.converters.convert_from_keras_model(
            model, hls_config={**cfg["HLSConfig"], "Flows": flows}, output_dir=str(design.layout.rebuilt),
            project_name=cfg.get("ProjectName", design.meta.project_name), backend=backend,
            board=accel.get("Board"), part=cfg.get("Part"), clock_period=cfg.get("ClockPeriod"),
            io_type=cfg.get("IOType"), interface=accel.get("Interface", "axi_stream"),
            driver=accel.get("Driver", "python"), input_type="float", output_type="float", allow_da_fallback=False)
    rebuilt = {name: str(layer.get_output_variable().type.precision) for name, layer in graph.graph.items()}
    recorded = {layer["name"]: str(layer.get("precision")) for layer in design.meta.layers}
    if rebuilt != recorded:
        diff = sorted(k for k in set(rebuilt) | set(recorded) if rebuilt.get(k) != recorded.get(k))
        raise ConfigError(f"{design.root}: the hls4ml graph rebuilt from the project differs from its record at "
                          f"{', '.join(diff)} (edited files or another hls4ml): re-convert the project "
                          "(`fpga-accel convert --force`)")
    return graph
