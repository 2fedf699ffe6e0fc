"""The seccomp filter a host-mode sandbox runs under: the container profile's refusals (deploy/docker/
seccomp-sandbox.json), plus no new namespaces of any kind. bubblewrap installs it (`--seccomp FD`) after it has built
the sandbox and just before it starts the run's command, so bwrap itself may still create the sandbox's namespaces.

Compiled once per process with libseccomp (through pyseccomp), for the machine's own architecture.
"""

import contextlib
import errno
import functools
import logging
import os
import tempfile

logger = logging.getLogger(__name__)

# The same names, in the same order, as the container profile's SCMP_ACT_ERRNO rule (a test keeps them equal).
REFUSED_SYSCALLS = (
    "_sysctl",
    "acct",
    "add_key",
    "adjtimex",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "fanotify_init",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount_setattr",
    "move_mount",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "sysfs",
    "syslog",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
)
NAMESPACE_SYSCALLS = ("unshare", "setns")
# clone(2)'s flags that make a namespace: refused where the container's own user namespace would allow them.
CLONE_NAMESPACE_FLAGS = (
    0x00000080,  # CLONE_NEWTIME
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)


def _compile() -> bytes:
    import pyseccomp as seccomp

    refuse = seccomp.ERRNO(errno.EPERM)
    bpf = seccomp.SyscallFilter(seccomp.ALLOW)
    arch = seccomp.system_arch()
    for name in (*REFUSED_SYSCALLS, *NAMESPACE_SYSCALLS):
        if seccomp.resolve_syscall(arch, name) >= 0:  # some exist only on other architectures (vm86 on i386)
            bpf.add_rule(refuse, name)
    for flag in CLONE_NAMESPACE_FLAGS:
        bpf.add_rule(refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    # clone3 passes its flags in memory, where a filter cannot look: "not implemented" makes glibc fall back to clone.
    bpf.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as compiled:
        bpf.export_bpf(compiled)
        compiled.seek(0)
        return compiled.read()


@functools.cache
def sandbox_filter() -> bytes | None:
    """The compiled filter, or None where libseccomp is missing (the tool-runner's health then says so)."""
    try:
        return _compile()
    except (ImportError, OSError, RuntimeError) as exc:
        logger.warning("no seccomp filter for sandboxes: %s", exc)
        return None


def filter_fd(program: bytes) -> int:
    """A pipe's read end holding `program`, for one bwrap to read (each sandbox needs its own: bwrap reads to EOF)."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, program)  # a few hundred bytes: far below a pipe's buffer
    except OSError:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return read_end


def close_fd(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
