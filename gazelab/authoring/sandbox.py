"""Run untrusted code (a student's exercise) as an unprivileged user, without network, with limits.

:func:`run` starts ``argv`` in a fresh working folder and returns what it printed and how it ended. What applies
depends on the machine (:func:`isolation` says it in words; INSTRUCTORS.md has the table):

* **as root with util-linux** (``unshare``, ``setpriv``, ``prlimit``; the grading container or VM): the command
  runs in new network, mount and PID namespaces (no network interface but a downed loopback; its processes die
  with it) as ``nobody:nogroup`` with no supplementary groups, no capabilities and ``no_new_privs``. Its mount
  namespace covers the folders it must not read (``/root``, ``/home``, ``/tmp``, ``/var/tmp``, ``/dev/shm``,
  ``/run`` and the caller's ``hide``: the course folder with its secret and submissions, the solved notebooks)
  with empty read-only tmpfs; the paths the interpreter needs (``reveal``: its prefix, the virtual environment,
  the folders on ``sys.path``) and the input folder (read-only) are bind-mounted back in at the same place, so
  an interpreter under ``/root/.pyenv`` runs as ``nobody`` too. It writes only in a scratch tmpfs of its own
  (256 MiB); its stdout and stderr go to files it cannot reach. ``/proc`` shows only its own processes.
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
    """Largest file it may write (RLIMIT_FSIZE), its stdout and stderr included."""
    scratch_bytes: int = 256 << 20
    """Size of its writable scratch folder (as root: a tmpfs; otherwise a folder on the disk, not limited)."""
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


def scratch_path(workdir: Path) -> Path:
    """The writable folder of a command run in ``workdir``: its current folder, ``HOME`` and ``TMPDIR`` (as root,
    a tmpfs of :data:`Limits.scratch_bytes` that only the command sees)."""
    return Path(workdir).resolve().parent / "scratch"


def mount_script(workdir: Path, stage: Path, reveal: Iterable[Path], hide: Iterable[Path],
                 scratch_bytes: int) -> str:
    """The shell lines that, as root in a fresh mount namespace, cover every ``hide`` folder (and every closed
    folder above a ``reveal`` path, and the folder above ``workdir``) with an empty read-only tmpfs that holds only
    the ``reveal`` paths and ``workdir`` (read-only), bind-mounted at their own place, and the scratch folder
    (:func:`scratch_path`: a tmpfs of ``scratch_bytes`` owned by nobody). ``stage``: an empty root-only folder the
    covers are built in."""
    workdir = Path(workdir)
    scratch = scratch_path(workdir)
    hide = {Path(h) for h in hide if Path(h).is_dir() and Path(h) != Path("/")}
    boxes = {Path(h) for h in ALWAYS_HIDDEN} | {workdir.parent}
    # a revealed path never uncovers a whole hidden folder (a script run from /tmp puts /tmp on sys.path)
    reveal = sorted({Path(p) for p in reveal if Path(p).exists() and not any(_within(b, Path(p)) for b in boxes)}
                    | {workdir})
    covers = hide | {workdir.parent} | {a for a in (_closed_ancestor(p) for p in reveal) if a is not None}
    # a cover inside a revealed path (the solutions inside the checkout) goes on last, over the bind mount
    inner = sorted(c for c in covers if c != workdir.parent and any(_within(c, r) for r in reveal))
    rest = covers - set(inner)
    outer = [c for c in rest if not any(c != o and _within(c, o) for o in rest)]
    outer.sort(key=lambda c: (_within(stage, c), str(c)))  # the cover above the stage goes on last
    q = shlex.quote
    lines = ["set -e", "umask 022", "mount -n --make-rprivate /",
             f"mount -n -t tmpfs -o size=1m,mode=700 gazelab-stage {q(str(stage))}"]
    for index, cover in enumerate(outer):
        built = stage / str(index)
        lines += [f"mkdir {q(str(built))}", f"mount -n -t tmpfs -o size=1m,mode=755 gazelab-hidden {q(str(built))}"]
        for path in (r for r in reveal if _within(r, cover)):
            inside = q(str(built / path.relative_to(cover)))
            lines += [f"mkdir -p {inside}", f"mount -n --bind {q(str(path))} {inside}"]
            if path == workdir:
                lines.append(f"mount -n -o remount,ro,bind {inside}")
        if _within(scratch, cover):
            inside = q(str(built / scratch.relative_to(cover)))
            lines += [f"mkdir -p {inside}", f"mount -n -t tmpfs -o size={scratch_bytes},mode=700,uid={NOBODY},"
                                            f"gid={NOBODY} gazelab-scratch {inside}"]
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
    """Run ``argv`` under the sandbox above, its input in ``workdir`` (a folder the caller made for this command
    only, in a folder of its own: the command reads it, read-only as root) and its current folder, ``HOME`` and
    ``TMPDIR`` the scratch folder (:func:`scratch_path`). stdout and stderr go to files outside its reach, each
    at most ``limits.file_bytes`` (the command is killed beyond).

    ``env`` is the whole environment (nothing of the caller's is inherited). ``reveal``: paths the command must
    read besides :func:`interpreter_paths`; ``hide``: folders it must not see, besides :data:`ALWAYS_HIDDEN`.
    """
    workdir = Path(workdir).resolve()
    scratch = scratch_path(workdir)
    env = {**env, "HOME": str(scratch), "TMPDIR": str(scratch)}
    stage = None
    if isolated():
        for path in (workdir, *workdir.rglob("*")):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        stage = Path(tempfile.mkdtemp(prefix="gazelab-stage-"))
        script = mount_script(workdir, stage, [*interpreter_paths(), *reveal], [*ALWAYS_HIDDEN, *hide],
                              limits.scratch_bytes)
        drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs",
                "--inh-caps=-all", "--bounding-set=-all", "--"]
        # the namespace's shell is its PID 1 (the student's Python is not: init ignores SIGXCPU); it returns
        # 128 + N when the command was killed by signal N
        inner = f"{script}\ncd {shlex.quote(str(scratch))}\n{shlex.join(drop + list(argv))}\nexit $?"
        command = ["prlimit", *_rlimit_args(limits), "--", "unshare", "--mount", "--net", "--pid", "--fork",
                   "--kill-child", "--mount-proc", "--", "/bin/sh", "-c", inner]
        preexec, cwd = None, "/"
    else:
        scratch.mkdir(exist_ok=True)
        if shutil.which("prlimit"):
            command, preexec = ["prlimit", *_rlimit_args(limits), "--", *argv], None
        else:
            command, preexec = list(argv), _preexec(limits)
        cwd = scratch
    output = Path(tempfile.mkdtemp(prefix="gazelab-output-"))
    start = time.monotonic()
    try:
        with open(output / "stdout", "wb") as stdout, open(output / "stderr", "wb") as stderr:
            process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
                                       stderr=stderr, start_new_session=True, preexec_fn=preexec)
            try:
                code, timed_out = process.wait(timeout=limits.wall_s), False
            except subprocess.TimeoutExpired:
                code, timed_out = None, True
            finally:
                _kill_group(process)  # what it left running, too
                process.wait()
        wall = time.monotonic() - start
        texts = []
        for name in ("stdout", "stderr"):
            with open(output / name, "rb") as handle:
                texts.append(handle.read(limits.file_bytes).decode(errors="replace"))
    finally:
        shutil.rmtree(output, ignore_errors=True)
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
    return Outcome(code, timed_out, texts[0], texts[1][-20_000:], wall)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
