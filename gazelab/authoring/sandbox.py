"""Run untrusted code (a student's exercise) as an unprivileged user, without network, with limits.

:func:`run` starts ``argv`` in a fresh working folder and returns what it printed and how it ended. What applies
depends on the machine (:func:`isolation` says it in words; INSTRUCTORS.md has the table):

* **as root with util-linux** (``unshare``, ``setpriv``, ``prlimit``; the grading container or VM): the command
  runs in new network, mount and PID namespaces (no network interface but a downed loopback; its processes die
  with it) as ``nobody:nogroup`` with no supplementary groups, no capabilities and ``no_new_privs``. Its mount
  namespace covers the folders it must not read (``/root``, ``/home``, ``/tmp``, ``/var/tmp``, ``/dev/shm``,
  ``/run`` and the caller's ``hide``: the course folder with its secret and submissions, the solved notebooks)
  with empty read-only tmpfs; the paths the interpreter needs (``reveal``: its prefix, the virtual environment,
  the folders on ``sys.path``) and the working folder are bind-mounted back in at the same place, so an
  interpreter under ``/root/.pyenv`` runs as ``nobody`` too. ``/proc`` shows only its own processes.
* **otherwise** (not root, or no ``unshare``): the command runs as the current user, with network, seeing what
  that user sees; only the limits apply. Grade in a container then (INSTRUCTORS.md).

Limits, either way: CPU seconds (``RLIMIT_CPU``), address space (``RLIMIT_AS``), processes of the user
(``RLIMIT_NPROC``), size of a written file (``RLIMIT_FSIZE``), open files, no core dumps, and a wall-clock
timeout after which the whole process group is killed.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

NOBODY = 65534
"""uid and gid of ``nobody`` / ``nogroup`` (Debian, Ubuntu, the python images)."""
ALWAYS_HIDDEN = ("/root", "/home", "/tmp", "/var/tmp", "/dev/shm", "/run")
"""Folders the sandboxed command never sees (as root): home folders, temporary files, sockets."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one sandboxed command may use."""

    wall_s: float
    """Wall-clock seconds before the process group is killed."""
    cpu_s: int
    """CPU seconds (RLIMIT_CPU: SIGXCPU, then SIGKILL one second later)."""
    memory_bytes: int = 4 << 30
    """Address space (RLIMIT_AS); importing torch alone maps ~0.7 GB."""
    processes: int = 64
    """Processes and threads of the user (RLIMIT_NPROC); the child runs one thread of torch."""
    file_bytes: int = 64 << 20
    """Largest file it may write (RLIMIT_FSIZE)."""
    open_files: int = 256


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a sandboxed command ended."""

    returncode: int | None
    """Its exit status; negative: killed by that signal; None: timed out (killed)."""
    timed_out: bool
    stdout: str
    stderr: str
    wall_s: float

    @property
    def signal(self) -> int | None:
        """The signal that killed it (also when the namespace's shell reports it as 128 + N)."""
        if self.returncode is None:
            return None
        if self.returncode < 0:
            return -self.returncode
        if self.returncode > 128 and isolated():
            return self.returncode - 128
        return None


@functools.cache
def isolated() -> bool:
    """True when :func:`run` can switch user and namespaces here: root, util-linux, and namespaces allowed."""
    if os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("unshare", "setpriv", "prlimit", "mount")):
        return False
    probe = subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
                            "true"], capture_output=True, timeout=60)
    return probe.returncode == 0


def isolation() -> str:
    """What :func:`run` isolates on this machine, in one line."""
    if isolated():
        return ("as nobody:nogroup, no capabilities, no network, own PID namespace; home folders, /tmp, /run and the "
                "course folder hidden; CPU, memory, process, file-size and wall-clock limits")
    who = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip() or str(os.geteuid())
    return (f"NOT isolated: as the current user ({who}), with network and that user's files (grading needs root "
            f"and util-linux's unshare/setpriv for the sandbox; see INSTRUCTORS.md); limits only")


def _rlimit_args(limits: Limits) -> list[str]:
    cpu = max(1, int(limits.cpu_s))
    return [f"--cpu={cpu}:{cpu + 1}", f"--as={limits.memory_bytes}", f"--nproc={limits.processes}",
            f"--fsize={limits.file_bytes}", f"--nofile={limits.open_files}", "--core=0"]


def _preexec(limits: Limits):  # only where prlimit is missing
    import resource

    def apply():
        cpu = max(1, int(limits.cpu_s))
        for what, value in ((resource.RLIMIT_CPU, (cpu, cpu + 1)), (resource.RLIMIT_AS, (limits.memory_bytes,) * 2),
                            (resource.RLIMIT_NPROC, (limits.processes,) * 2),
                            (resource.RLIMIT_FSIZE, (limits.file_bytes,) * 2),
                            (resource.RLIMIT_NOFILE, (limits.open_files,) * 2), (resource.RLIMIT_CORE, (0, 0))):
            resource.setrlimit(what, value)

    return apply


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _closed_ancestor(path: Path) -> Path | None:
    """The outermost folder above ``path`` that others may not enter (mode without o+x), e.g. /root."""
    for folder in reversed(path.parents):
        try:
            if not os.stat(folder).st_mode & 0o001:
                return folder
        except OSError:
            return None
    return None


def mount_script(workdir: Path, stage: Path, reveal: Iterable[Path], hide: Iterable[Path]) -> str:
    """The shell lines that, as root in a fresh mount namespace, cover every ``hide`` folder (and every closed
    folder above a ``reveal`` path) with an empty read-only tmpfs holding only the ``reveal`` paths and
    ``workdir``, bind-mounted at their own place. ``stage``: an empty root-only folder the covers are built in."""
    workdir = Path(workdir)
    reveal = sorted({Path(p) for p in reveal if Path(p).exists()} | {workdir})
    covers = {Path(h) for h in hide if Path(h).is_dir() and Path(h) != Path("/")}
    covers |= {a for a in (_closed_ancestor(p) for p in reveal) if a is not None}
    # a cover inside a revealed path (the solutions inside the checkout) goes on last, over the bind mount
    inner = sorted(c for c in covers if any(_within(c, r) for r in reveal))
    outer = [c for c in covers - set(inner) if not any(c != o and _within(c, o) for o in covers - set(inner))]
    outer.sort(key=lambda c: (_within(stage, c), str(c)))  # the cover above the stage goes on last
    q = shlex.quote
    lines = ["set -e", "umask 022", "mount -n --make-rprivate /",
             f"mount -n -t tmpfs -o size=1m,mode=700 gazelab-stage {q(str(stage))}"]
    for index, cover in enumerate(outer):
        built = stage / str(index)
        lines += [f"mkdir {q(str(built))}", f"mount -n -t tmpfs -o size=1m,mode=755 gazelab-hidden {q(str(built))}"]
        for path in (r for r in reveal if _within(r, cover)):
            inside = built / path.relative_to(cover)
            lines += [f"mkdir -p {q(str(inside))}", f"mount -n --bind {q(str(path))} {q(str(inside))}"]
        lines += [f"mount -n -o remount,ro,bind {q(str(built))}", f"mount -n --move {q(str(built))} {q(str(cover))}"]
    for cover in inner:
        lines.append(f"mount -n -t tmpfs -o size=1m,mode=755,ro gazelab-hidden {q(str(cover))}")
    return "\n".join(lines)


def interpreter_paths() -> list[Path]:
    """What this Python needs to start and import gazelab: its prefixes and the folders on its path."""
    paths = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).parent,
             Path(os.path.realpath(sys.executable)).parent.parent}
    paths |= {Path(p) for p in sys.path if p and Path(p).is_dir()}
    return sorted(paths)


def run(argv: Sequence[str], workdir: Path, limits: Limits, env: dict[str, str], *,
        reveal: Iterable[Path] = (), hide: Iterable[Path] = ()) -> Outcome:
    """Run ``argv`` in ``workdir`` (a folder the caller made, for this command only) under the sandbox above.

    ``env`` is the whole environment (nothing of the caller's is inherited). ``reveal``: paths the command must
    read (default: :func:`interpreter_paths`); ``hide``: folders it must not see, beside :data:`ALWAYS_HIDDEN`.
    """
    workdir = Path(workdir).resolve()
    stage = None
    if isolated():
        os.chown(workdir, NOBODY, NOBODY)
        os.chmod(workdir, 0o700)
        stage = Path(tempfile.mkdtemp(prefix="gazelab-stage-"))
        script = mount_script(workdir, stage, [*interpreter_paths(), *reveal], [*ALWAYS_HIDDEN, *hide])
        drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs",
                "--inh-caps=-all", "--bounding-set=-all", "--"]
        # the namespace's shell is its PID 1 (the student's Python is not: init ignores SIGXCPU); it returns
        # 128 + N when the command was killed by signal N
        inner = f"{script}\ncd {shlex.quote(str(workdir))}\n{shlex.join(drop + list(argv))}\nexit $?"
        command = ["prlimit", *_rlimit_args(limits), "--", "unshare", "--mount", "--net", "--pid", "--fork",
                   "--kill-child", "--mount-proc", "--", "/bin/sh", "-c", inner]
        preexec = None
    elif shutil.which("prlimit"):
        command, preexec = ["prlimit", *_rlimit_args(limits), "--", *argv], None
    else:
        command, preexec = list(argv), _preexec(limits)
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True, preexec_fn=preexec)
    try:
        stdout, stderr = process.communicate(timeout=limits.wall_s)
        code, timed_out = process.returncode, False
    except subprocess.TimeoutExpired:
        _kill_group(process)
        stdout, stderr = process.communicate()
        code, timed_out = None, True
    finally:
        if process.poll() is None:
            _kill_group(process)
            process.wait()
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
    return Outcome(code, timed_out, stdout.decode(errors="replace")[-20_000:], stderr.decode(errors="replace")[-20_000:],
                   time.monotonic() - start)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
