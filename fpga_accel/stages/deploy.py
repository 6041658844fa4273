"""Deploy a bundle to a PYNQ board over ssh (boards reached by SD card: ``board_payload.sd_card_package``).

Uses the system OpenSSH client (ssh/scp) with key-based auth only (BatchMode: no password prompt, no
password stored or passed) and host-key checking left on. The copy goes to a temporary directory on the
board and is renamed into place only once complete, so a failed deploy leaves the previous bundle intact.
"""
from __future__ import annotations

import logging
import re
import shlex
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from ..board_payload import NOTEBOOK, open_bundle, stage_board_files
from ..errors import BoardError, ConfigError, ToolNotFoundError
from ..runtime.manifest import Bundle
from ..runtime.progress import Progress, Update, log_progress

log = logging.getLogger(__name__)



WEAK_SSH_SETTINGS = {
    "stricthostkeychecking": ("false", "no", "off", "accept-new"),
    "userknownhostsfile": ("/dev/null",),
    "globalknownhostsfile": ("/dev/null",),
    "passwordauthentication": ("yes",),
    "kbdinteractiveauthentication": ("yes",),
    "forwardagent": ("yes",),
    "batchmode": ("no",),
}
"""What ssh must not be told by extra options: judged on what ``ssh -G`` resolves them to, not on spelling."""


def _ssh_resolve(host: str, options: List[str]) -> Optional[Dict[str, str]]:
    if shutil.which("ssh") is None:
        return None
    args = ["ssh", "-G", "-o", "BatchMode=yes"]
    for opt in options:
        args += ["-o", opt]
    proc = subprocess.run([*args, host], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ConfigError(f"ssh rejects the options {options}: {proc.stderr.strip() or proc.returncode}")
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)


def weakened_ssh_settings(host: str, options: List[str]) -> List[str]:
    """The guarded settings that ``options`` change to a weak value, as ssh itself resolves them."""
    if not options:
        return []
    resolved, baseline = _ssh_resolve(host, options), _ssh_resolve(host, [])
    if resolved is None or baseline is None:  # no ssh here: judge the spelling (deploy needs ssh anyway)
        text = " ".join(o.replace(" ", "").replace("=", " ").lower() for o in options)
        return [f"{key} {value}" for key, values in WEAK_SSH_SETTINGS.items() for value in values
                if f"{key} {value}" in text]
    found = []
    for key, weak in WEAK_SSH_SETTINGS.items():
        value = resolved.get(key, "").lower()
        if value != baseline.get(key, "").lower() and any(w in value for w in weak):
            found.append(f"{key} {value}")
    # ssh's own default for password logins is "yes": an explicit one shows no difference, so read it
    for opt in options:
        parts = re.split(r"\s*=\s*|\s+", opt.strip(), maxsplit=1)
        if len(parts) == 2 and parts[0].strip('"').lower() in ("passwordauthentication", "kbdinteractiveauthentication") \
                and parts[1].strip().strip('"').lower() == "yes":
            found.append(f"{parts[0].strip(chr(34)).lower()} yes")
    return found


@dataclass(frozen=True)
class Remote:
    host: str
    user: str = "xilinx"
    port: int = 22
    identity: Optional[Path] = None
    ssh_options: Sequence[str] = field(default_factory=tuple)
    """Extra ``-o`` options, e.g. ``UserKnownHostsFile=...``; never used to turn host-key checks off."""
    python: str = "python3"
    remote_dir: str = "fpga_accel"
    """Relative to the remote home, or absolute."""

    def __post_init__(self) -> None:
        if not str(self.remote_dir).strip().strip("/"):
            raise ConfigError(f"remote_dir {self.remote_dir!r} would be the board's home or root folder: name a folder")
        weakened = weakened_ssh_settings(self.host, list(self.ssh_options))
        if weakened:
            raise ConfigError(f"ssh options {list(self.ssh_options)} are refused: they would set {', '.join(weakened)} "
                              "(host keys are always checked, only keys are used, no agent forwarding)")

    def _common(self) -> List[str]:
        args = ["-o", "BatchMode=yes"]
        if self.identity:
            args += ["-i", str(self.identity), "-o", "IdentitiesOnly=yes"]
        for opt in self.ssh_options:
            args += ["-o", opt]
        return args

    @property
    def target(self) -> str:
        return f"{self.user}@{self.host}"

    def ssh(self, script: str) -> List[str]:
        return ["ssh", "-p", str(self.port), *self._common(), self.target, script]

    def scp(self, sources: Sequence[Path], dest: str) -> List[str]:
        return ["scp", "-r", "-P", str(self.port), *self._common(), *map(str, sources), f"{self.target}:{dest}"]


def _run(cmd: List[str], what: str, stream: Callable[[str], None]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        stream(line)
    if proc.returncode != 0:
        hint = ""
        if "Host key verification failed" in proc.stderr or "REMOTE HOST IDENTIFICATION HAS CHANGED" in proc.stderr:
            hint = " (the board's host key is unknown or changed: check it, then add it with ssh-keyscan/ssh once)"
        elif "Permission denied" in proc.stderr:
            hint = " (key-based login failed: install your public key on the board with ssh-copy-id)"
        raise BoardError(f"{what} failed (exit {proc.returncode}){hint}: {proc.stderr.strip()[-800:]}")
    return proc.stdout


def deploy_plan(bundle: Bundle, remote: Remote, staging: Path) -> List[List[str]]:
    name = bundle.manifest.name
    base = remote.remote_dir.rstrip("/")
    tmp = f"{base}/.incoming-{uuid.uuid4().hex[:8]}"
    final = f"{base}/bundles/{name}"
    q = shlex.quote
    install = (f"set -e; {q(remote.python)} -c 'import numpy' || {{ echo 'numpy missing on the board' >&2; exit 3; }}; "
               f"{q(remote.python)} -m pip install --quiet --no-deps --force-reinstall --no-index "
               f"{q(tmp)}/{q(next(staging.glob('*.whl')).name)}")
    previous = f"{final}.previous"
    log_file = f"{tmp}/selftest.log"
    # The previous bundle is moved aside, not deleted, until the new one has passed its self-test on the
    # board; when the self-test fails it is put back and the new one removed. The board finishes this
    # even when the connection drops (HUP/PIPE ignored, output to a file), and a swap that was cut off
    # anyway (power loss) is undone by the next deploy before anything else.
    swap_and_test = (
        f"set -e; trap '' HUP PIPE; trap 'rm -rf {q(tmp)}' EXIT; mkdir -p {q(base)}/bundles {q(base)}/notebooks; "
        f"if [ -d {q(previous)} ] && [ ! -d {q(final)} ]; then mv {q(previous)} {q(final)}; fi; rm -rf {q(previous)}; "
        f"if [ -d {q(final)} ]; then mv {q(final)} {q(previous)}; fi; mv {q(tmp)}/{q(name)} {q(final)}; "
        f"set +e; (cd {q(base)} && {q(remote.python)} -m fpga_accel.runtime selftest bundles/{q(name)}) "
        f"> {q(log_file)} 2>&1; status=$?; "
        f"if [ $status -ne 0 ]; then cat {q(log_file)} >&2; rm -rf {q(final)}; "
        f"if [ -d {q(previous)} ]; then mv {q(previous)} {q(final)}; echo 'self-test failed: the previous bundle "
        f"is back in place' >&2; fi; exit $status; fi; "
        f"cat {q(log_file)}; rm -rf {q(previous)}; "
        f"if [ -f {q(tmp)}/{NOTEBOOK.name} ]; then mv -f {q(tmp)}/{NOTEBOOK.name} {q(base)}/notebooks/; fi")
    return [
        remote.ssh(f"mkdir -p {q(tmp)}"),
        remote.scp(sorted(staging.iterdir()), tmp + "/"),
        remote.ssh(install),
        remote.ssh(swap_and_test),
        remote.ssh(f"rm -rf {q(tmp)}"),  # cleanup after a failure before the swap (the swap cleans up itself)
    ]


def deploy(bundle_path: Path, remote: Remote, dry_run: bool = False,
           progress: Optional[Progress] = None) -> str:
    """Copy, install, swap in and self-test; returns the self-test output."""
    progress = progress or log_progress(log)
    bundle = open_bundle(bundle_path)
    for tool in ("ssh", "scp"):
        if shutil.which(tool) is None:
            raise ToolNotFoundError(f"{tool} not on PATH: install the OpenSSH client (apt-get install openssh-client)")
    with tempfile.TemporaryDirectory(prefix="fpga_accel_deploy_") as tmp:
        staging = Path(tmp)
        stage_board_files(bundle, staging)
        commands = deploy_plan(bundle, remote, staging)
        if dry_run:
            return "\n".join(" ".join(shlex.quote(a) for a in cmd) for cmd in commands)
        steps = ["create a temporary folder", "copy bundle, runtime wheel and notebook",
                 "install the runtime wheel", "swap the bundle in and run its self-test"]
        swapping = False
        try:
            for step, cmd in zip(steps, commands):
                progress(Update(f"{remote.target}: {step}", step="deploy"))
                swapping = step == steps[-1]
                out = _run(cmd, step, stream=lambda line: None if not swapping else progress(Update(f"  {line}", step="deploy")))
        finally:
            if not swapping:  # once the swap has started the board finishes it and removes its own files
                subprocess.run(commands[-1], capture_output=True, check=False)
    return out
