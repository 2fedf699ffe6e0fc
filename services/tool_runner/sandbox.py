"""Untrusted Python in a bubblewrap sandbox: no network, private /tmp, read-only system, unprivileged user, no new
user namespaces, a seccomp filter (services/tool_runner/seccomp.py), rlimits (CPU, address space, file size,
processes), a cgroup where one can be made, and a wall timeout that kills the whole process group. Every process of
a sandbox dies with the service that started it (parent-death signals down the whole chain)."""

import asyncio
import contextlib
import ctypes
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

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


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputLimits:
    max_files: int
    max_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Workspace:
    """What a run sees besides its code: input files, read-only at /work/inputs (`fill` writes them into the host
    folder bound there), and whether the regular files it leaves in /work/outputs are handed back."""

    fill: Callable[[Path], Awaitable[None]] | None = None
    collect: OutputLimits | None = None


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
    # /work/outputs as a tar stream (regular files only), when collected; the caller reads and closes it. Written by
    # the sandbox, so untrusted: services/tool_runner/artifacts.py reads it with care.
    outputs: IO[bytes] | None = None
    outputs_cut: bool = False  # more than the limits allowed came back

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


# Runs inside the sandbox: waits for the run's header and code on stdin (a pooled sandbox waits here, interpreter
# up), writes the code to /work/main.py and runs it as __main__, so that tracebacks and exit codes read as for
# `python main.py`. However the code ends (but killed), the regular files it left in outputs/ are then written to
# the outputs pipe as a tar stream, within the header's limits (one more file or byte tells the host there was more);
# links, pipes and devices go by name only, never followed or read.
BOOTSTRAP = """\
import json, os, stat, sys, traceback
header = json.loads(sys.stdin.buffer.readline())
code = sys.stdin.buffer.read()
with open("main.py", "wb") as f:
    f.write(code)
if header["collect"]:
    os.makedirs("outputs", exist_ok=True)
def _collect(limits):
    import tarfile
    kept, total = 0, 0
    with os.fdopen(limits["fd"], "wb") as pipe, tarfile.open(fileobj=pipe, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for folder, dirs, files in os.walk("outputs"):
            dirs.sort()
            links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
            for name in sorted(files + links):
                path = os.path.join(folder, name)
                info = tarfile.TarInfo(os.path.relpath(path, "outputs"))
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                except OSError:
                    info.type = tarfile.SYMTYPE
                    tar.addfile(info)
                    continue
                with os.fdopen(fd, "rb") as f:
                    st = os.fstat(fd)
                    if not stat.S_ISREG(st.st_mode):
                        info.type = tarfile.FIFOTYPE
                        tar.addfile(info)
                        continue
                    info.size = st.st_size
                    tar.addfile(info, f)
                kept, total = kept + 1, total + st.st_size
                if kept > limits["max_files"] or total > limits["max_bytes"]:
                    return
sys.argv = ["main.py"]
namespace = {"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__}
try:
    exec(compile(code, "main.py", "exec"), namespace)
except SystemExit:
    raise
except BaseException as error:
    traceback.print_exception(type(error), error, error.__traceback__.tb_next)
    sys.exit(1)
finally:
    if header["collect"]:
        try:
            _collect(header)
        except Exception as error:
            print(f"outputs not collected: {error}", file=sys.stderr)
"""
SPOOL_BYTES = 1024 * 1024  # collected outputs past this wait in a temporary file, not in memory
OUTPUTS_DRAIN_SECONDS = 5.0  # after the run ends, the longest its outputs pipe may stay open


def _bwrap_command(*, as_root: bool, limits: Limits, seccomp_fd: int | None, inputs: str) -> list[str]:
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
        # The run's input files: a host folder, bound read-only (filled when a run takes this sandbox).
        "--ro-bind",
        inputs,
        "/work/inputs",
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
    inputs: Path  # the host folder seen read-only at /work/inputs
    outputs_fd: int  # the outputs pipe's writing end, as the sandbox knows it
    outputs: asyncio.StreamReader
    outputs_pipe: asyncio.BaseTransport
    workdir: tempfile.TemporaryDirectory[str] | None = None  # an unsandboxed run's folder

    async def discard(self) -> None:
        """Never used (a pool closing): kill it and free its cgroup."""
        _kill_group(self.process.pid)
        await self.process.wait()
        _forget(self.output)
        await _release(self)


def _inputs_folder(workdir: tempfile.TemporaryDirectory[str] | None) -> Path:
    """An empty folder for the run's input files that the sandbox's uid can read (under /tmp, not the service's
    state: that may lie below a closed home)."""
    if workdir is not None:
        folder = Path(workdir.name) / "inputs"
        folder.mkdir()
    else:
        folder = Path(tempfile.mkdtemp(prefix="cognitionos-inputs-"))
    folder.chmod(0o755)
    return folder


async def _pipe_reader(fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    reader = asyncio.StreamReader(limit=SPOOL_BYTES)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0))
    return reader, transport


async def start_sandbox(*, limits: Limits, sandboxed: bool) -> Sandbox:
    """Namespaces made, limits applied, interpreter started: everything a run needs but its code."""
    workdir = None
    seccomp_fd = None
    if not sandboxed:
        workdir = tempfile.TemporaryDirectory(prefix="cognitionos-sandbox-")
    inputs = _inputs_folder(workdir)
    outputs_read, outputs_write = os.pipe()
    if sandboxed:
        program = sandbox_filter()
        seccomp_fd = filter_fd(program) if program is not None else None
        command = _bwrap_command(as_root=os.geteuid() == 0, limits=limits, seccomp_fd=seccomp_fd, inputs=str(inputs))
        cwd, env = None, {}
    else:
        assert workdir is not None
        command = [_python(), "-I", "-c", BOOTSTRAP]
        cwd, env = workdir.name, {"PATH": "/usr/bin:/bin", "HOME": workdir.name}
    passed = (outputs_write,) if seccomp_fd is None else (outputs_write, seccomp_fd)
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
                pass_fds=passed,
                preexec_fn=lambda: _limit_resources(limits, sandboxed=sandboxed, cgroup=cgroup),
            )
        except BaseException:
            if cgroup is not None:
                await asyncio.to_thread(cgroup.remove)
            os.close(outputs_read)
            shutil.rmtree(inputs, ignore_errors=True)
            raise
    finally:
        close_fd(seccomp_fd)  # the child holds its own copy
        os.close(outputs_write)
    assert process.stdout and process.stderr
    outputs, outputs_pipe = await _pipe_reader(outputs_read)
    output = asyncio.gather(
        _read_capped(process.stdout, limits.output_bytes), _read_capped(process.stderr, limits.output_bytes)
    )
    return Sandbox(
        process=process,
        cgroup=cgroup,
        run_limits=f"cgroup-{flavour}" if flavour else "rlimits",
        output=output,
        inputs=inputs,
        outputs_fd=outputs_write,
        outputs=outputs,
        outputs_pipe=outputs_pipe,
        workdir=workdir,
    )


async def run_in(
    sandbox: Sandbox, code: str, *, timeout_seconds: float, workspace: Workspace | None = None
) -> ExecutionResult:
    """Hand the code to a started sandbox, wait for it within the wall timeout, kill what it leaves in its session,
    collect its output. A sandbox serves exactly one run."""
    process = sandbox.process
    workspace = workspace or Workspace()
    if workspace.fill is not None:
        try:
            await workspace.fill(sandbox.inputs)
        except BaseException:
            await sandbox.discard()
            raise
    collect = workspace.collect
    header = {"collect": collect is not None, "fd": sandbox.outputs_fd}
    if collect is not None:
        header |= {"max_files": collect.max_files, "max_bytes": collect.max_bytes}
    started = time.perf_counter()
    assert process.stdin is not None
    try:
        process.stdin.write(json.dumps(header).encode() + b"\n" + code.encode())
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
    outputs, outputs_cut = await _spooled(sandbox.outputs, collect) if collect is not None else (None, False)
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
            outputs=outputs,
            outputs_cut=outputs_cut,
        )
    finally:
        await _release(sandbox)


async def _spooled(pipe: asyncio.StreamReader, limits: OutputLimits) -> tuple[IO[bytes] | None, bool]:
    """The outputs pipe's tar stream in a spooled file, at most the limits' bytes with room for the tar's headers;
    the rest is read and dropped (so a writer never blocks), and says the outputs were cut."""
    cap = limits.max_bytes + (limits.max_files + 2) * 2048 + 10240
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (the caller closes it)
    kept, cut = 0, False
    try:
        async with asyncio.timeout(OUTPUTS_DRAIN_SECONDS):
            while chunk := await pipe.read(65536):
                room = cap - kept
                if room > 0:
                    spool.write(chunk[:room])
                    kept += min(room, len(chunk))
                cut = cut or len(chunk) > room
    except TimeoutError:  # something outside the sandbox's session still holds the pipe: what came is kept
        cut = True
    spool.seek(0)
    return (spool if kept else None), cut


async def run_python(
    code: str, *, timeout_seconds: float, limits: Limits, sandboxed: bool, workspace: Workspace | None = None
) -> ExecutionResult:
    """A run in a sandbox started for it (the pool, pool.py, hands out one started earlier)."""
    sandbox = await start_sandbox(limits=limits, sandboxed=sandboxed)
    return await run_in(sandbox, code, timeout_seconds=timeout_seconds, workspace=workspace)


async def _release(sandbox: Sandbox) -> None:
    if sandbox.cgroup is not None:  # also anything the run started outside its session; the group goes too
        await asyncio.to_thread(sandbox.cgroup.remove)
    if sandbox.workdir is not None:
        sandbox.workdir.cleanup()
    else:
        await asyncio.to_thread(shutil.rmtree, sandbox.inputs, True)
    sandbox.outputs_pipe.close()


def _forget(output: asyncio.Future[tuple[tuple[bytes, bool], tuple[bytes, bool]]]) -> None:
    """Cancel a sandbox's output readers and retrieve their end, so nothing reports an exception never retrieved."""
    output.cancel()
    output.add_done_callback(lambda done: done.cancelled() or done.exception())


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
