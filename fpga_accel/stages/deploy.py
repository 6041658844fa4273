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
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from ..board_payload import NOTEBOOK, open_bundle, stage_board_files
from ..errors import BoardError, ConfigError, SelfTestError, ToolNotFoundError
from ..layout import META_FILE, ProjectLayout, ProjectMeta
from ..runtime.manifest import Bundle
from ..runtime.selftest import EXIT_FAILED, RESULT_MARKER, SelfTestResult, parse_result
from ..runtime.progress import Progress, Update, default_progress

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
COMMAND_SSH_SETTINGS = ("proxycommand", "localcommand", "knownhostscommand", "remotecommand",
                        "permitlocalcommand", "enableescapecommandline")
"""Options that make ssh run a command (locally, or instead of ours on the board): a project file's
``deploy: {ssh_options: ...}`` is data, so none of them may come from there or the command line — a
board that needs a proxy gets it from ~/.ssh/config (or ProxyJump)."""


def _ssh_resolve(host: str, options: List[str]) -> Optional[Dict[str, str]]:
    if shutil.which("ssh") is None:
        return None
    args = ["ssh", "-G", "-o", "BatchMode=yes"]
    for opt in options:
        args += ["-o", opt]
    try:
        proc = subprocess.run([*args, "--", host], capture_output=True, text=True, check=False, timeout=60)
    except subprocess.TimeoutExpired:
        raise ConfigError("`ssh -G` (resolving the ssh options) did not finish in 60 s") from None
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
                if f"{key} {value}" in text] + [key for key in COMMAND_SSH_SETTINGS if key in text]
    found = [f"{key} {resolved.get(key, '')}" for key in COMMAND_SSH_SETTINGS
             if resolved.get(key, "").lower() != baseline.get(key, "").lower()]
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


SSH_TIMEOUTS = ("ConnectTimeout={connect}", "ServerAliveInterval=15", "ServerAliveCountMax=4")
"""Every wait on the board is bounded: connecting (TCP and the ssh handshake), and a connection that stops
answering (4 keep-alives 15 s apart); ``Remote.timeout`` bounds each step as a whole."""
SAFE_PATH = re.compile(r"[A-Za-z0-9_./+@%=,:-]+")
"""Paths that mean the same to every scp (legacy scp hands the destination to the board's shell)."""


def remote_command(*args: str) -> str:
    """The one place arguments become text for a remote shell: each quoted once. ssh joins its arguments
    with spaces and the board's login shell parses the result, so this is what reaches the board."""
    return " ".join(shlex.quote(str(a)) for a in args)


def shell_script(script: str, *args: str) -> str:
    """``sh -c SCRIPT`` with ``args`` as $1, $2, ...: the script is fixed text, never formatted with a
    value; values reach it only as quoted arguments."""
    return remote_command("sh", "-c", script, "fpga_accel-deploy", *args)


def check_word(value: object, what: str, path: bool = False) -> str:
    """A value that goes to ssh or the board (host, user, folder, Python): text without control characters
    (a newline would end the board's command) that does not start with '-' (it would read as an option)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} must be non-empty text, got {value!r}")
    bad = next((c for c in value if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise ConfigError(f"{what} {value!r} contains the control character {bad!r}: refused")
    if value.startswith("-"):
        raise ConfigError(f"{what} {value!r} starts with '-' and would read as an option: refused")
    if not path and any(c.isspace() for c in value):
        raise ConfigError(f"{what} {value!r} contains white space: refused")
    return value


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
    """Relative to the remote home (``~/`` may start it), or absolute. Any characters but control
    characters and a leading '-': it reaches the board as one quoted argument."""
    connect_timeout: float = 20
    """Seconds to connect (TCP and ssh handshake) before giving up."""
    timeout: float = 1800
    """Seconds each step (copy, install, swap + self-test) may take in all before it is stopped."""

    def __post_init__(self) -> None:
        check_word(self.host, "host")
        check_word(self.user, "user")
        if "@" in self.user:
            raise ConfigError(f"user {self.user!r} contains '@': give the host and the user apart")
        check_word(self.python, "python", path=True)
        remote_dir = self.remote_dir
        if isinstance(remote_dir, str) and remote_dir.startswith("~/"):  # ssh starts in the home: relative
            remote_dir = remote_dir[2:].lstrip("/")
        if isinstance(remote_dir, str) and (not remote_dir.strip().strip("/") or remote_dir.strip() in ("~", ".", "./")):
            raise ConfigError(f"remote_dir {self.remote_dir!r} would be the board's home or root folder: name a folder")
        object.__setattr__(self, "remote_dir", check_word(remote_dir, "remote_dir", path=True))
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ConfigError(f"port must be a TCP port (1-65535), got {self.port!r}")
        for key in ("connect_timeout", "timeout"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 10 ** 7:
                raise ConfigError(f"{key} must be a number of seconds > 0, got {value!r}")
        weakened = weakened_ssh_settings(self.host, list(self.ssh_options))
        if weakened:
            raise ConfigError(f"ssh options {list(self.ssh_options)} are refused: they would set {', '.join(weakened)} "
                              "(host keys are always checked, only keys are used, no agent forwarding, no "
                              "commands run by ssh: put a proxy in ~/.ssh/config or use ProxyJump)")

    def _common(self) -> List[str]:
        args = ["-o", "BatchMode=yes"]
        for opt in SSH_TIMEOUTS:
            args += ["-o", opt.format(connect=max(1, round(self.connect_timeout)))]
        if self.identity:
            args += ["-i", str(self.identity), "-o", "IdentitiesOnly=yes"]
        for opt in self.ssh_options:
            args += ["-o", opt]
        return args

    @property
    def target(self) -> str:
        return f"{self.user}@{self.host}"

    def ssh(self, command: str) -> List[str]:
        """ssh running ``command``, text for the board's shell: build it with ``remote_command``."""
        return ["ssh", "-p", str(self.port), *self._common(), "--", self.target, command]

    def scp(self, sources: Sequence[Path], dest: str) -> List[str]:
        """scp to ``dest``, which must be a ``SAFE_PATH``: legacy scp gives it to the board's shell, SFTP
        scp does not, so only a path both read alike is given."""
        if not SAFE_PATH.fullmatch(dest):
            raise ValueError(f"scp destination {dest!r} is not a plain path")  # internal: deploy_plan's job
        return ["scp", "-r", "-P", str(self.port), *self._common(), "--", *map(str, sources), f"{self.target}:{dest}"]


def _run(cmd: List[str], what: str, stream: Callable[[str], None], timeout: float) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BoardError(f"{what} timed out after {timeout:g} s (the board stopped answering): check the board "
                         "and the network, or give the step more time (deploy timeout)") from None
    for line in proc.stdout.splitlines():
        stream(line)
    if proc.returncode != 0:
        hint = ""
        err = proc.stderr
        if "Host key verification failed" in err or "REMOTE HOST IDENTIFICATION HAS CHANGED" in err:
            hint = " (the board's host key is unknown or changed: check it, then add it with ssh-keyscan/ssh once)"
        elif "Permission denied" in err:
            hint = " (key-based login failed: install your public key on the board with ssh-copy-id)"
        elif "timed out" in err.lower() or "Timeout" in err:
            hint = " (timed out: the board did not answer)"
        detail = " ".join(err.strip()[-800:].split())
        error = BoardError(f"{what} failed (exit {proc.returncode}){hint}: {detail}")
        error.output, error.returncode = proc.stdout + proc.stderr, proc.returncode  # type: ignore[attr-defined]
        raise error
    return proc.stdout


CHECK_SCRIPT = """set -e
python=$1 incoming=$2 wheel=$3
"$python" -c 'import numpy' || { echo 'numpy missing on the board' >&2; exit 3; }
"$python" -m pip install --quiet --no-deps --force-reinstall --no-index -- "$incoming/$wheel"
"""
"""Install the runtime wheel: $1 the board's Python, $2 the copied folder, $3 the wheel's file name."""

SWAP_SCRIPT = """set -e
incoming=$1 base=$2 name=$3 notebook=$4 tmp=$5
shift 5
trap '' HUP PIPE
trap 'rm -rf -- "$tmp" "$incoming"' EXIT
mkdir -p -- "$base/bundles" "$base/notebooks"
if [ "$incoming" != "$tmp" ]; then rm -rf -- "$tmp"; mv -- "$incoming" "$tmp"; fi
final=$base/bundles/$name
previous=$final.previous
log=$tmp/selftest.log
if [ -d "$previous" ] && [ ! -d "$final" ]; then mv -- "$previous" "$final"; fi
rm -rf -- "$previous"
if [ -d "$final" ]; then mv -- "$final" "$previous"; fi
mv -- "$tmp/$name" "$final"
set +e
(cd "$base" && "$@") > "$log" 2>&1
status=$?
if [ $status -ne 0 ]; then
  cat -- "$log" >&2
  rm -rf -- "$final"
  if [ -d "$previous" ]; then mv -- "$previous" "$final"; echo 'self-test failed: the previous bundle is back in place' >&2; fi
  exit $status
fi
cat -- "$log"
rm -rf -- "$previous"
if [ -f "$tmp/$notebook" ]; then mv -f -- "$tmp/$notebook" "$base/notebooks/"; fi
"""
"""Swap the bundle in and self-test it. The previous bundle is moved aside, not deleted, until the new one
has passed its self-test on the board; when the self-test fails it is put back and the new one removed.
The board finishes this even when the connection drops (HUP/PIPE ignored, output to a file), and a swap
that was cut off anyway (power loss) is undone by the next deploy before anything else.
$1 the copied folder, $2 the remote folder, $3 the bundle's name, $4 the notebook's file name, $5 the
temporary folder beside the bundles (where the copy is moved when it landed elsewhere); the rest is the
self-test command, run in the remote folder."""


def deploy_plan(bundle: Bundle, remote: Remote, staging: Path) -> List[List[str]]:
    """The ssh/scp commands of a deploy. Values reach the board only as arguments quoted once
    (``remote_command``); the copy lands in ``REMOTE_DIR/.incoming-*``, or — when REMOTE_DIR is not a
    plain path scp reads alike in every mode — in ``~/.fpga_accel-incoming-*``, moved by the swap."""
    name = bundle.manifest.name
    base = remote.remote_dir.rstrip("/") or remote.remote_dir
    token = uuid.uuid4().hex[:8]
    tmp = f"{base}/.incoming-{token}"
    incoming = tmp if SAFE_PATH.fullmatch(tmp) and not tmp.startswith("-") else f".fpga_accel-incoming-{token}"
    wheel = next(staging.glob("*.whl")).name
    return [
        remote.ssh(remote_command("mkdir", "-p", "--", incoming)),
        remote.scp(sorted(staging.iterdir()), incoming + "/"),
        remote.ssh(shell_script(CHECK_SCRIPT, remote.python, incoming, wheel)),
        remote.ssh(shell_script(SWAP_SCRIPT, incoming, base, name, NOTEBOOK.name, tmp,
                                remote.python, "-m", "fpga_accel.runtime", "selftest", f"bundles/{name}")),
        remote.ssh(remote_command("rm", "-rf", "--", incoming)),  # cleanup after a failure before the swap
    ]


def project_of(bundle: Bundle, project: "str | Path") -> ProjectLayout:
    """The project ``bundle`` was made from, checked to be that design (name, model and configuration
    hashes) before anything reaches the board: a self-test is only ever recorded beside its own design."""
    layout = ProjectLayout.open(project)
    meta, manifest = ProjectMeta.read(layout.root), bundle.manifest
    differs = [key for key in ("name", "model_sha256", "config_sha256") if getattr(meta, key) != getattr(manifest, key)]
    if differs:
        raise ConfigError(f"{bundle.root} was not made from the project {layout.root} (its {', '.join(differs)} "
                          "differ): name the project the bundle came from, or re-create the bundle from this one")
    return layout


def default_project(bundle_path: Path, output_dir: Path = Path("hls_projects")) -> Optional[ProjectLayout]:
    """``hls_projects/NAME`` (convert's default place) when it holds the design of the bundle, else None:
    what ``fpga-accel deploy`` records the self-test in when no ``--project`` is given."""
    bundle = open_bundle(bundle_path)
    candidate = Path(output_dir) / bundle.manifest.name
    if not (candidate / META_FILE).is_file():
        return None
    try:
        return project_of(bundle, candidate)
    except ConfigError as exc:
        log.info("not recording the self-test in %s: %s", candidate, exc)
        return None


def record_selftest(layout: ProjectLayout, result: SelfTestResult, target: str, bundle: Path) -> None:
    """The board's self-test in the project's fpga_accel.json (``selftest``), where ``fpga-accel report``
    shows it beside the estimate and the synthesis reports."""
    try:
        meta = ProjectMeta.read(layout.root)
        meta.selftest = {"board": target, "bundle": str(bundle), "passed": result.passed,
                         "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "result": result.to_dict()}
        meta.write(layout.root)
    except ConfigError as exc:  # the deploy itself is done: its outcome stands, the record is what is missing
        log.warning("the self-test ran but could not be recorded in %s: %s", layout.meta_file, exc)
        return
    log.info("recorded the self-test in %s", layout.meta_file)


def deploy(bundle_path: Path, remote: Remote, dry_run: bool = False,
           progress: Optional[Progress] = None, project: "str | Path | None" = None) -> "SelfTestResult | str":
    """Copy, install, swap in and self-test; returns the board's :class:`SelfTestResult` (what it printed
    in ``.output``), or with ``dry_run`` the commands as text. A self-test that ran and failed raises
    :class:`SelfTestError` carrying its result (the previous bundle is back in place). With ``project``
    (hls_projects/NAME, checked to be the bundle's design before the copy) the self-test, passed or
    failed, is recorded in its fpga_accel.json."""
    progress = progress or default_progress(log)
    bundle = open_bundle(bundle_path)
    layout = project_of(bundle, project) if project is not None else None
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
            for done, (step, cmd) in enumerate(zip(steps, commands)):
                progress(Update(f"{remote.target}: {step}", step="deploy"))
                if done:
                    progress(Update("deploy", "count", done, len(steps), step="deploy"))
                swapping = step == steps[-1]
                try:
                    out = _run(cmd, f"deploy to {remote.target}: {step}", timeout=remote.timeout,
                               stream=lambda line: None if not swapping or line.startswith(RESULT_MARKER)
                               else progress(Update(f"  {line}", step="deploy")))
                except BoardError as exc:
                    failed = parse_result(getattr(exc, "output", "")) if swapping else None
                    if failed is not None and getattr(exc, "returncode", None) == EXIT_FAILED:
                        if layout is not None:
                            record_selftest(layout, failed, remote.target, Path(bundle_path))
                        raise SelfTestError(f"the self-test of {bundle.manifest.name} failed on {remote.target} "
                                            f"(bit-exact {failed.bit_exact:.2%}, argmax {failed.argmax_agreement:.2%}); "
                                            "the previous bundle is back in place", failed) from None
                    raise
            progress(Update("deploy", "count", len(steps), len(steps), step="deploy"))
        finally:
            if not swapping:  # once the swap has started the board finishes it and removes its own files
                try:
                    subprocess.run(commands[-1], capture_output=True, check=False, stdin=subprocess.DEVNULL,
                                   timeout=min(remote.timeout, remote.connect_timeout + 30))
                except subprocess.TimeoutExpired:
                    log.warning("could not remove the temporary folder on %s (no answer)", remote.target)
    result = parse_result(out)
    if result is None:
        raise BoardError(f"the board's self-test printed no result (an older fpga_accel runtime on "
                         f"{remote.target}?): {' '.join(out.split())[-300:]}")
    if layout is not None:
        record_selftest(layout, result, remote.target, Path(bundle_path))
    return result
