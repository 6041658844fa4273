"""Two writers of one thing are serialised or refused; work is identified by what produced it."""
from __future__ import annotations

import pytest

import fpga_accel as fa
from models import qmlp


def test_a_second_convert_of_the_same_project_is_refused_while_one_runs(tmp_path):
    import fcntl

    (tmp_path / "hls").mkdir()
    with open(tmp_path / "hls" / ".mlp.lock", "w") as held:  # what a running convert holds
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(fa.ConfigError, match="another convert is writing"):
            fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=tmp_path / "hls", verify_samples=0))
    assert not (tmp_path / "hls" / "mlp").exists()
    fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=tmp_path / "hls", verify_samples=0))
    assert sorted(p.name for p in (tmp_path / "hls").iterdir()) == ["mlp"]  # lock file gone


def test_sweep_points_are_identified_by_what_produced_them(tmp_path):
    """The same sweep name and grid over another model or other data is new work: the old results are
    not reported as "already done" for it."""
    from fpga_accel.sweep import SweepSpec, inputs_identity, point_id

    for name, content in (("a.h5", b"model A"), ("b.h5", b"model B"), ("d1.npz", b"data 1"), ("d2.npz", b"data 2")):
        (tmp_path / name).write_bytes(content)

    def spec(model, data, test_samples=300):
        return SweepSpec(name="s", model=tmp_path / model, data=tmp_path / data, grid={"weight_bits": [4, 6]},
                         output_dir=tmp_path / "sweeps", test_samples=test_samples)

    params = spec("a.h5", "d1.npz").points()[0]
    ids = {point_id(params, inputs_identity(s)) for s in
           (spec("a.h5", "d1.npz"), spec("b.h5", "d1.npz"), spec("a.h5", "d2.npz"), spec("a.h5", "d1.npz", 100))}
    assert len(ids) == 4
    assert point_id(params, inputs_identity(spec("a.h5", "d1.npz"))) == \
        point_id(params, inputs_identity(spec("a.h5", "d1.npz")))  # and stable for the same inputs
