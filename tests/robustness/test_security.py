"""Names are not paths, and ssh options are judged by what ssh makes of them."""
from __future__ import annotations

import json
import shutil

import pytest

import fpga_accel as fa


@pytest.mark.parametrize("edit, message", [
    ({"name": "../../somewhere"}, "name '../../somewhere' is not a C identifier"),
    ({"project_name": "x; rm -rf ~"}, "is not a C identifier"),
    ({"input_shape": [-16]}, "input_shape [-16] is not a list of positive integers"),
    ({"bitfile": "../../evil.bit"}, "bitfile '../../evil.bit' is not a plain file name"),
])
def test_hostile_bundle_manifests_are_refused(robust_project, tmp_path, edit, message):
    from fpga_accel.runtime.manifest import MANIFEST, Bundle

    _, design = robust_project
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    manifest = dict(design.meta.to_dict(), bitfile="mlp.bit", hwhfile="mlp.hwh")
    manifest.update(edit)
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(fa.ConfigError) as info:
        Bundle.open(bundle)
    assert message in str(info.value)


@pytest.mark.parametrize("remote_dir", ["", "/", "  "])
def test_remote_dir_must_name_a_folder(remote_dir):
    from fpga_accel.stages.deploy import Remote

    with pytest.raises(fa.ConfigError, match="would be the board's home or root folder"):
        Remote(host="pynq", remote_dir=remote_dir)


@pytest.mark.parametrize("option, weakened", [
    ("StrictHostKeyChecking=off", "stricthostkeychecking false"),       # not the spelling `=no`
    ("stricthostkeychecking false", "stricthostkeychecking false"),
    ("StrictHostKeyChecking accept-new", "stricthostkeychecking accept-new"),
    ("UserKnownHostsFile=/dev/null", "userknownhostsfile /dev/null"),
    ("ForwardAgent=yes", "forwardagent yes"),
    ("PasswordAuthentication = yes", "passwordauthentication yes"),
])
def test_ssh_options_are_judged_by_what_ssh_resolves(option, weakened):
    from fpga_accel.stages.deploy import Remote

    if shutil.which("ssh") is None:
        pytest.skip("no ssh client here")
    with pytest.raises(fa.ConfigError) as info:
        Remote(host="pynq", ssh_options=(option,))
    assert weakened in str(info.value)


@pytest.mark.parametrize("option", ["ConnectTimeout=5", "UserKnownHostsFile=/tmp/known_hosts",
                                    "StrictHostKeyChecking=yes"])
def test_harmless_ssh_options_pass(option):
    from fpga_accel.stages.deploy import Remote

    assert Remote(host="pynq", ssh_options=(option,)).ssh_options == (option,)


def test_batchmode_no_is_accepted_because_it_cannot_undo_batchmode_yes():
    """BatchMode=no passes the check only because ssh keeps the first value it is given and fpga_accel's
    own BatchMode=yes comes first: asked with ``ssh -G`` (prints the effective settings, connects nowhere)."""
    import subprocess

    from fpga_accel.stages.deploy import Remote

    if shutil.which("ssh") is None:
        pytest.skip("no ssh client here")
    remote = Remote(host="pynq", ssh_options=("BatchMode=no",))
    effective = subprocess.run(["ssh", "-G", *remote._common(), remote.target], capture_output=True, text=True,
                               timeout=30, check=True).stdout.lower().splitlines()
    assert "batchmode yes" in effective and "batchmode no" not in effective


def test_ssh_rejects_nonsense_options_before_anything_runs():
    from fpga_accel.stages.deploy import Remote

    if shutil.which("ssh") is None:
        pytest.skip("no ssh client here")
    with pytest.raises(fa.ConfigError, match="ssh rejects the options"):
        Remote(host="pynq", ssh_options=("Bogus=1",))
