"""A seccomp filter for the process backend, close to Docker's default profile.

Classic BPF written here (no libseccomp): it checks `seccomp_data.arch`, then returns EPERM
for the system calls Docker's default profile refuses an unprivileged container (mounts,
namespaces, modules, kexec, reboot, bpf, perf, ptrace and process_vm_*, keyrings, clock
setting, io_uring, the handle syscalls, TIOCSTI/TIOCLINUX ioctls, clone with namespace
flags, personality with anything but the safe values) and lets every other call through.
clone3 gets ENOSYS, as under Docker: its flags sit behind a pointer BPF cannot read, and
glibc falls back to clone, whose flags it can. A call from a foreign ABI (i386 or x32 on
x86_64, arm32 on aarch64) kills the process: nothing legitimate in a worker makes one.

bubblewrap loads it (`--seccomp FD`) just before it runs the worker, after setting
PR_SET_NO_NEW_PRIVS. Only x86_64 and aarch64 have tables; elsewhere `program()` returns
None and the backend says in `unenforced` that no filter applies.
"""

from __future__ import annotations

import errno
import functools
import os
import platform
import struct

__all__ = ["program", "machine_supported", "BLOCKED"]

# Docker's default profile, for a container with no added capabilities.
BLOCKED = (
    "mount", "umount2", "pivot_root", "chroot", "swapon", "swapoff", "reboot", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "bpf", "perf_event_open", "ptrace", "process_vm_readv",
    "process_vm_writev", "kcmp", "pidfd_getfd", "keyctl", "add_key", "request_key", "unshare", "setns",
    "open_by_handle_at", "name_to_handle_at", "userfaultfd", "iopl", "ioperm", "acct", "quotactl", "quotactl_fd",
    "lookup_dcookie", "settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "syslog", "vhangup",
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "open_tree_attr", "mount_setattr",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "sethostname", "setdomainname", "mbind",
    "set_mempolicy", "migrate_pages", "move_pages", "fanotify_init", "nfsservctl", "uselib", "ustat", "sysfs",
    "_sysctl", "create_module", "get_kernel_syms", "query_module",
)

# From <asm/unistd_64.h> (x86_64) and <asm-generic/unistd.h> (aarch64); a name missing
# from a table has no such call on that machine.
_X86_64 = dict(
    mount=165, umount2=166, pivot_root=155, chroot=161, swapon=167, swapoff=168, reboot=169, kexec_load=246,
    kexec_file_load=320, init_module=175, finit_module=313, delete_module=176, bpf=321, perf_event_open=298,
    ptrace=101, process_vm_readv=310, process_vm_writev=311, kcmp=312, pidfd_getfd=438, keyctl=250, add_key=248,
    request_key=249, unshare=272, setns=308, open_by_handle_at=304, name_to_handle_at=303, userfaultfd=323,
    iopl=172, ioperm=173, acct=163, quotactl=179, quotactl_fd=443, lookup_dcookie=212, settimeofday=164,
    clock_settime=227, adjtimex=159, clock_adjtime=305, syslog=103, vhangup=153, fsopen=430, fsconfig=431,
    fsmount=432, fspick=433, move_mount=429, open_tree=428, open_tree_attr=467, mount_setattr=442,
    io_uring_setup=425, io_uring_enter=426, io_uring_register=427, sethostname=170, setdomainname=171, mbind=237,
    set_mempolicy=238, migrate_pages=256, move_pages=279, fanotify_init=300, nfsservctl=180, uselib=134,
    ustat=136, sysfs=139, _sysctl=156, create_module=174, get_kernel_syms=177, query_module=178,
    ioctl=16, clone=56, clone3=435, personality=135,
)
_AARCH64 = dict(
    mount=40, umount2=39, pivot_root=41, chroot=51, swapon=224, swapoff=225, reboot=142, kexec_load=104,
    kexec_file_load=294, init_module=105, finit_module=273, delete_module=106, bpf=280, perf_event_open=241,
    ptrace=117, process_vm_readv=270, process_vm_writev=271, kcmp=272, pidfd_getfd=438, keyctl=219, add_key=217,
    request_key=218, unshare=97, setns=268, open_by_handle_at=265, name_to_handle_at=264, userfaultfd=282,
    acct=89, quotactl=60, quotactl_fd=443, lookup_dcookie=18, settimeofday=170, clock_settime=112, adjtimex=171,
    clock_adjtime=266, syslog=116, vhangup=58, fsopen=430, fsconfig=431, fsmount=432, fspick=433, move_mount=429,
    open_tree=428, open_tree_attr=467, mount_setattr=442, io_uring_setup=425, io_uring_enter=426,
    io_uring_register=427, sethostname=161, setdomainname=162, mbind=235, set_mempolicy=237, migrate_pages=238,
    move_pages=239, fanotify_init=262, nfsservctl=42,
    ioctl=29, clone=220, clone3=435, personality=92,
)
# machine -> (AUDIT_ARCH_*, table, lowest syscall number of another ABI sharing the arch)
_MACHINES = {
    "x86_64": (0xC000003E, _X86_64, 0x40000000),  # x32 calls carry __X32_SYSCALL_BIT
    "aarch64": (0xC00000B7, _AARCH64, None),
}

TIOCSTI, TIOCLINUX = 0x5412, 0x541C
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (CLONE_NEWTIME is
# only valid for unshare and clone3; in clone's flags 0x80 is part of the exit signal).
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
# personality(2) values Docker allows: PER_LINUX, PER_LINUX32, UNAME26 with either, and the query.
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

# BPF opcodes, seccomp return values and struct seccomp_data offsets.
_LD_ABS_W, _JEQ, _JSET, _JGE, _RET = 0x20, 0x15, 0x45, 0x35, 0x06
_ALLOW, _KILL_PROCESS, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_NR, _ARCH = 0, 4


def _arg_low(i: int) -> int:
    """Offset of the low 32 bits of argument `i` (both machines are little-endian)."""
    return 16 + 8 * i


def machine_supported(machine: str | None = None) -> bool:
    return (machine or platform.machine()) in _MACHINES


@functools.lru_cache(maxsize=None)
def program(machine: str | None = None) -> bytes | None:
    """The filter as `struct sock_filter[]` bytes for bwrap's --seccomp, or None where this
    machine has no table."""
    machine = machine or platform.machine()
    if machine not in _MACHINES:
        return None
    arch, table, foreign_from = _MACHINES[machine]
    eperm, enosys = _ERRNO | errno.EPERM, _ERRNO | errno.ENOSYS
    code: list[tuple[int, int, int, int]] = []

    def op(c: int, k: int, jt: int = 0, jf: int = 0) -> None:
        code.append((c, jt, jf, k))

    op(_LD_ABS_W, _ARCH)
    op(_JEQ, arch, 1, 0)
    op(_RET, _KILL_PROCESS)
    op(_LD_ABS_W, _NR)
    if foreign_from is not None:
        op(_JGE, foreign_from, 0, 1)
        op(_RET, _KILL_PROCESS)

    def special(nr: int, body: list[tuple[int, int, int, int]]) -> None:
        """If the call is `nr`, run `body` (which ends in a return); else skip it."""
        op(_JEQ, nr, 0, len(body))
        code.extend(body)

    special(table["ioctl"], [
        (_LD_ABS_W, 0, 0, _arg_low(1)),  # ioctl's request is an unsigned int: only the low word counts
        (_JEQ, 0, 1, TIOCSTI), (_RET, 0, 0, eperm),
        (_JEQ, 0, 1, TIOCLINUX), (_RET, 0, 0, eperm),
        (_RET, 0, 0, _ALLOW)])
    special(table["clone"], [
        (_LD_ABS_W, 0, 0, _arg_low(0)),
        (_JSET, 0, 1, CLONE_NAMESPACES), (_RET, 0, 0, eperm),
        (_RET, 0, 0, _ALLOW)])
    persona = [(_LD_ABS_W, 0, 0, _arg_low(0))]
    for value in PERSONALITIES:
        persona += [(_JEQ, 0, 1, value), (_RET, 0, 0, _ALLOW)]
    special(table["personality"], persona + [(_RET, 0, 0, eperm)])
    op(_JEQ, table["clone3"], 0, 1)
    op(_RET, enosys)
    for name in BLOCKED:
        if name in table:
            op(_JEQ, table[name], 0, 1)
            op(_RET, eperm)
    op(_RET, _ALLOW)
    return b"".join(struct.pack("=HBBI", c, jt, jf, k) for c, jt, jf, k in code)


def pipe_fd() -> int | None:
    """A pipe's read end holding the filter, for bwrap's --seccomp (it reads to the end);
    None where this machine has no table."""
    data = program()
    if data is None:
        return None
    read, write = os.pipe()
    try:
        os.write(write, data)  # a few hundred bytes: far below a pipe's buffer
    finally:
        os.close(write)
    return read
