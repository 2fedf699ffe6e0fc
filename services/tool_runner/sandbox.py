"""Untrusted Python in a bubblewrap sandbox: no network, private /tmp, read-only system, unprivileged user, no new
user namespaces, a seccomp filter (services/tool_runner/seccomp.py), rlimits (CPU, address space, file size,
processes), a cgroup where one can be made, and a wall timeout that kills the whole process group. Every process of
a sandbox dies with the service that started it (parent-death signals down the whole chain)."""

import asyncio
import contextlib
import ctypes
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from services.tool_runner.cgroups import RunCgroup, cgroup_flavour
from services.tool_runner.seccomp import close_fd, filter_fd, sandbox_filter

MB = 1024 * 1024
PR_SET_PDEATHSIG = 1
LIBC = ctypes.CDLL(None, use_errno=True)  # loaded once here, not in each child between fork and exec
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc/alternatives", "/etc/ld.so.cache")


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    cpu_seconds: int
    memory_mb: int
    file_size_mb: int
    max_processes: int
    output_bytes: int
    sandbox_uid: int
    tmp_mb: int = 64
    work_mb: int = 64
    cpu_percent: int = 100  # of one CPU, for the whole run, where a cgroup can hold it


@dataclass(slots=True, kw_only=True)
class ExecutionResult:
    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool
    duration_ms: float
    truncated: bool
    signal: str | None
    memory_exceeded: bool = False
    run_limits: str = "rlimits"

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def sandbox_status(*, allow_unsandboxed: bool) -> str:
    if bwrap_path():
        return "bwrap"
    if allow_unsandboxed:
        return "UNSANDBOXED (bubblewrap missing; SANDBOX_ALLOW_UNSANDBOXED=true): rlimits only, no isolation"
    return "unavailable: install bubblewrap (apt-get install bubblewrap); code execution is refused"


async def sandbox_self_check(limits: Limits) -> str:
    """Starts one sandbox and says whether code can run: "bwrap" when it can, else why not. bwrap being installed is
    not enough: in a container without the namespace and mount calls it needs, it exits at once."""
    if not bwrap_path():
        return sandbox_status(allow_unsandboxed=False)
    result = await run_python("print('ready')", timeout_seconds=15, limits=limits, sandboxed=True)
    if result.succeeded and result.stdout.strip() == "ready":
        return "bwrap"
    reason = (result.stderr.strip().splitlines() or [f"exit code {result.exit_code}"])[-1]
    return f"unavailable: bwrap cannot start a sandbox here ({reason[:300]}); code execution fails"


def _python() -> str:
    return os.path.realpath(sys.executable)


# Runs inside the sandbox: waits for the run's code on stdin (a pooled sandbox waits here, interpreter up), writes it
# to /work/main.py and runs it as __main__, so that tracebacks and exit codes read as for `python main.py`.
BOOTSTRAP = """\
import sys, traceback
code = sys.stdin.buffer.read()
with open("main.py", "wb") as f:
    f.write(code)
sys.argv = ["main.py"]
namespace = {"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__}
try:
    exec(compile(code, "main.py", "exec"), namespace)
except SystemExit:
    raise
except BaseException as error:
    traceback.print_exception(type(error), error, error.__traceback__.tb_next)
    sys.exit(1)
"""


def _bwrap_command(*, as_root: bool, limits: Limits, seccomp_fd: int | None) -> list[str]:
    python = _python()
    prefix = os.path.realpath(sys.base_prefix)
    command = [bwrap_path() or "bwrap"]
    for path in dict.fromkeys([*SYSTEM_DIRS, prefix]):
        if os.path.exists(path):
            command += ["--ro-bind", path, path]
    command += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        # /tmp and /work are size-capped tmpfs of the sandbox's own: nothing the code writes reaches the host disk.
        "--size",
        str(limits.tmp_mb * MB),
        "--tmpfs",
        "/tmp",
        "--size",
        str(limits.work_mb * MB),
        "--tmpfs",
        "/work",
        "--chdir",
        "/work",
        "--remount-ro",
        "/",  # the sandbox's own root is read-only too: only /work and /tmp take writes
        "--unshare-all",  # network, pid, ipc, uts, cgroup and user namespaces: no network at all
        "--unshare-user",
        "--disable-userns",  # the code may not make namespaces of its own (nested user namespaces reach more kernel)
        *(["--seccomp", str(seccomp_fd)] if seccomp_fd is not None else []),
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--setenv",
        "HOME",
        "/work",
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
        "--setenv",
        "PYTHONDONTWRITEBYTECODE",
        "1",
        # The process limit is set inside the sandbox's own user namespace, so it counts only this run's
        # processes (the kernel frees a finished namespace's count lazily, which would starve later runs).
        "prlimit",
        f"--nproc={limits.max_processes}",
        "--",
        python,
        "-I",
        "-c",
        BOOTSTRAP,
    ]
    if as_root:
        # Drop to an unprivileged uid before bwrap, so rlimits (notably processes) apply and nothing runs as root.
        command = [
            "setpriv",
            f"--reuid={limits.sandbox_uid}",
            f"--regid={limits.sandbox_uid}",
            "--clear-groups",
            "--pdeathsig",  # changing the uid clears the parent-death signal: set again after the change
            "KILL",
            *command,
        ]
        command = [*_interpreter_view(prefix), *command]
    return command


def _closed_ancestor(path: str) -> str | None:
    """The topmost directory above `path` that other users cannot traverse (a 0700 /root, say), if any."""
    parts = Path(path).parents
    for ancestor in reversed(parts):
        if ancestor != Path("/") and not os.stat(ancestor).st_mode & 0o001:
            return str(ancestor)
    return None


def _interpreter_view(prefix: str) -> list[str]:
    """As root, when the sandbox uid could not reach the interpreter (pyenv under a 0700 home), run the unprivileged
    bwrap inside a root-made mount namespace where only the interpreter's prefix is visible below the closed
    directory, through directories anyone may traverse. Empty when the interpreter is already reachable."""
    closed = _closed_ancestor(prefix)
    if closed is None:
        return []
    # A pid namespace of its own, whose init dies with this bwrap, and this bwrap with the service: when the init of
    # a pid namespace dies the kernel kills every process in it, the whole sandbox below included. (Parent-death
    # signals alone did not reach through this layer: the inner bwrap outlived a killed service.)
    view = [bwrap_path() or "bwrap", "--die-with-parent", "--unshare-pid", "--dev-bind", "/", "/"]
    view += ["--perms", "0755", "--tmpfs", closed]
    for directory in reversed(Path(prefix).parents):
        if len(directory.parts) > len(Path(closed).parts):
            view += ["--perms", "0755", "--dir", str(directory)]
    # setpriv needs these two capabilities to drop to the sandbox uid; the inner bwrap then runs with none.
    view += ["--ro-bind", prefix, prefix, "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--"]
    return view


def _limit_resources(limits: Limits, *, sandboxed: bool, cgroup: RunCgroup | None) -> None:
    """Runs in the child between fork and exec."""
    # Killed when the service dies, even by SIGKILL; each process below passes the same signal on.
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if cgroup is not None:
        cgroup.join()
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mb, limits.file_size_mb * mb))
    if not sandboxed:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


async def _read_capped(stream: asyncio.StreamReader, cap: int) -> tuple[bytes, bool]:
    kept = bytearray()
    truncated = False
    while chunk := await stream.read(65536):
        room = cap - len(kept)
        if room > 0:
            kept += chunk[:room]
        truncated = truncated or len(chunk) > room
    return bytes(kept), truncated


@dataclass(kw_only=True)
class Sandbox:
    """An interpreter started in its sandbox, with its limits, waiting for one run's code on stdin."""

    process: asyncio.subprocess.Process
    cgroup: RunCgroup | None
    run_limits: str
    output: asyncio.Future[tuple[tuple[bytes, bool], tuple[bytes, bool]]]  # (stdout, cut), (stderr, cut)
    workdir: tempfile.TemporaryDirectory[str] | None = None  # an unsandboxed run's folder

    async def discard(self) -> None:
        """Never used (a pool closing): kill it and free its cgroup."""
        _kill_group(self.process.pid)
        await self.process.wait()
        _forget(self.output)
        await _release(self)


async def start_sandbox(*, limits: Limits, sandboxed: bool) -> Sandbox:
    """Namespaces made, limits applied, interpreter started: everything a run needs but its code."""
    workdir = None
    seccomp_fd = None
    if sandboxed:
        program = sandbox_filter()
        seccomp_fd = filter_fd(program) if program is not None else None
        command = _bwrap_command(as_root=os.geteuid() == 0, limits=limits, seccomp_fd=seccomp_fd)
        cwd, env = None, {}
    else:
        workdir = tempfile.TemporaryDirectory(prefix="cognitionos-sandbox-")
        command = [_python(), "-I", "-c", BOOTSTRAP]
        cwd, env = workdir.name, {"PATH": "/usr/bin:/bin", "HOME": workdir.name}
    flavour = cgroup_flavour() if sandboxed else None
    try:
        cgroup = (
            await asyncio.to_thread(
                RunCgroup.create,
                memory_mb=limits.memory_mb,
                max_processes=limits.max_processes,
                cpu_percent=limits.cpu_percent,
                flavour=flavour,
            )
            if flavour
            else None
        )
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=cwd,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                pass_fds=(seccomp_fd,) if seccomp_fd is not None else (),
                preexec_fn=lambda: _limit_resources(limits, sandboxed=sandboxed, cgroup=cgroup),
            )
        except BaseException:
            if cgroup is not None:
                await asyncio.to_thread(cgroup.remove)
            raise
    finally:
        close_fd(seccomp_fd)  # the child holds its own copy
    assert process.stdout and process.stderr
    output = asyncio.gather(
        _read_capped(process.stdout, limits.output_bytes), _read_capped(process.stderr, limits.output_bytes)
    )
    return Sandbox(
        process=process,
        cgroup=cgroup,
        run_limits=f"cgroup-{flavour}" if flavour else "rlimits",
        output=output,
        workdir=workdir,
    )


async def run_in(sandbox: Sandbox, code: str, *, timeout_seconds: float) -> ExecutionResult:
    """Hand the code to a started sandbox, wait for it within the wall timeout, kill what it leaves in its session,
    collect its output. A sandbox serves exactly one run."""
    process = sandbox.process
    started = time.perf_counter()
    assert process.stdin is not None
    try:
        process.stdin.write(code.encode())
        await process.stdin.drain()
        process.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # it died before reading (a sandbox that could not start): its exit status and stderr say why
    timed_out = False
    try:
        await asyncio.wait_for(process.wait(), timeout_seconds)
    except TimeoutError:
        timed_out = True
        _kill_group(process.pid)
        await process.wait()
    except BaseException:  # cancelled (the service stopping): the sandbox goes, and nobody will read its output
        _kill_group(process.pid)
        _forget(sandbox.output)
        await _release(sandbox)
        raise
    _kill_group(process.pid)  # anything the code left running in its session
    (stdout, out_cut), (stderr, err_cut) = await sandbox.output
    exit_code = process.returncode
    try:
        return ExecutionResult(
            stdout=stdout.decode(errors="replace"),
            stderr=stderr.decode(errors="replace"),
            exit_code=exit_code,
            timed_out=timed_out,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            truncated=out_cut or err_cut,
            signal=signal.Signals(-exit_code).name if exit_code is not None and exit_code < 0 else None,
            memory_exceeded=sandbox.cgroup.memory_exceeded() if sandbox.cgroup else False,
            run_limits=sandbox.run_limits,
        )
    finally:
        await _release(sandbox)


async def run_python(code: str, *, timeout_seconds: float, limits: Limits, sandboxed: bool) -> ExecutionResult:
    """A run in a sandbox started for it (the pool, pool.py, hands out one started earlier)."""
    return await run_in(await start_sandbox(limits=limits, sandboxed=sandboxed), code, timeout_seconds=timeout_seconds)


async def _release(sandbox: Sandbox) -> None:
    if sandbox.cgroup is not None:  # also anything the run started outside its session; the group goes too
        await asyncio.to_thread(sandbox.cgroup.remove)
    if sandbox.workdir is not None:
        sandbox.workdir.cleanup()


def _forget(output: asyncio.Future[tuple[tuple[bytes, bool], tuple[bytes, bool]]]) -> None:
    """Cancel a sandbox's output readers and retrieve their end, so nothing reports an exception never retrieved."""
    output.cancel()
    output.add_done_callback(lambda done: done.cancelled() or done.exception())


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
