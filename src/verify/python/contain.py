# Kernel-level containment for the executor's forked children (executor.py, fork isolation):
# what a program cannot undo from Python, because the kernel enforces it.
#
#   seccomp   a filter that kills the process (SIGSYS) on exec, fork/clone, sockets, ptrace
#             and other processes' memory, signals, namespaces, mounts, kernel keyrings, bpf,
#             perf, io_uring and module loading.
#   Landlock  files may be created, written, truncated, renamed or removed only under the
#             scratch dir; nothing may be executed (Linux >= 5.13; ABI versions add rights).
#   prctl     no new privileges; killed when the zygote dies.
#
# ctypes is loaded here, before executor.py installs its audit hook; programs cannot import
# it. Only x86_64 and aarch64 have syscall tables below: elsewhere, and where the kernel has
# no Landlock, `Containment.report()` says what is missing and the child runs with the rest.
import ctypes
import os
import platform
import signal
import struct

_libc = ctypes.CDLL(None, use_errno=True)
# PyDLL keeps the GIL held across the call: fork() must not run while another thread could
# take it (the zygote has one thread; this makes that explicit).
_fork = ctypes.PyDLL(None).fork
_fork.restype = ctypes.c_int
_libc.syscall.restype = ctypes.c_long
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

# syscall numbers: name -> (x86_64, aarch64); None where the architecture has no such call
_SYSCALLS = {
    "execve": (59, 221), "execveat": (322, 281), "fork": (57, None), "vfork": (58, None),
    "clone": (56, 220), "clone3": (435, 435),
    "socket": (41, 198), "socketpair": (53, 199), "connect": (42, 203), "bind": (49, 200),
    "listen": (50, 201), "accept": (43, 202), "accept4": (288, 242),
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "pidfd_open": (434, 434), "pidfd_send_signal": (424, 424), "pidfd_getfd": (438, 438),
    "setns": (308, 268), "unshare": (272, 97), "mount": (165, 40), "umount2": (166, 39),
    "pivot_root": (155, 41), "chroot": (161, 51), "keyctl": (250, 219), "add_key": (248, 217),
    "request_key": (249, 218), "bpf": (321, 280), "perf_event_open": (298, 241),
    "userfaultfd": (323, 282), "io_uring_setup": (425, 425), "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427), "personality": (135, 92), "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264), "kexec_load": (246, 104), "init_module": (175, 105),
    "finit_module": (313, 273), "delete_module": (176, 106), "reboot": (169, 142),
    "swapon": (167, 224), "swapoff": (168, 225),
    # signals: a program has no business signalling any process, itself included
    "kill": (62, 129), "tkill": (200, 130), "tgkill": (234, 131), "rt_sigqueueinfo": (129, 138),
    "rt_tgsigqueueinfo": (297, 240),
}
_ARCH = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}

# classic BPF
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000


def _insn(code, jt, jf, k):
    return struct.pack("HBBI", code, jt, jf, k)


def seccomp_program():
    """The filter for this architecture: kill the process on any denied call."""
    column, audit_arch = _ARCH[platform.machine()]
    denied = sorted({nrs[column] for nrs in _SYSCALLS.values() if nrs[column] is not None})
    prog = [
        _insn(_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        _insn(_JEQ_K, 1, 0, audit_arch),
        _insn(_RET_K, 0, 0, _RET_KILL_PROCESS),  # another ABI (i386, x32 numbering...): no
        _insn(_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    if column == 0:  # x32 syscalls share the x86_64 arch value, with bit 30 set
        prog += [_insn(_JGE_K, 0, 1, 0x40000000), _insn(_RET_K, 0, 0, _RET_KILL_PROCESS)]
    for nr in denied:
        prog += [_insn(_JEQ_K, 0, 1, nr), _insn(_RET_K, 0, 0, _RET_KILL_PROCESS)]
    prog.append(_insn(_RET_K, 0, 0, _RET_ALLOW))
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _check(result, what):
    if result < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return result


# Landlock (linux/landlock.h)
_LL_CREATE, _LL_ADD_RULE, _LL_RESTRICT = 444, 445, 446  # the same on every architecture
_LL_VERSION = 1 << 0
_LL_RULE_PATH_BENEATH = 1
_FS_EXECUTE = 1 << 0
_FS_WRITE_FILE = 1 << 1
_FS_REMOVE_DIR, _FS_REMOVE_FILE = 1 << 4, 1 << 5
_FS_MAKE = sum(1 << b for b in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
_FS_REFER = 1 << 13  # ABI 2
_FS_TRUNCATE = 1 << 14  # ABI 3


def landlock_abi():
    """The kernel's Landlock ABI version, 0 when it has none (or it is disabled)."""
    return max(0, _libc.syscall(_LL_CREATE, None, 0, _LL_VERSION))


def landlock_ruleset(abi, writable):
    """A ruleset fd: files may be written only under `writable`, nothing executed."""
    write = _FS_WRITE_FILE | _FS_REMOVE_DIR | _FS_REMOVE_FILE | _FS_MAKE
    if abi >= 2:
        write |= _FS_REFER
    if abi >= 3:
        write |= _FS_TRUNCATE
    attr = struct.pack("Q", write | _FS_EXECUTE)  # handled_access_fs; later ABI fields stay 0
    ruleset = _check(_libc.syscall(_LL_CREATE, attr, len(attr), 0), "landlock_create_ruleset")
    fd = os.open(writable, os.O_PATH | os.O_DIRECTORY)
    try:
        rule = struct.pack("=Qi", write, fd)  # landlock_path_beneath_attr is packed
        _check(_libc.syscall(_LL_ADD_RULE, ruleset, _LL_RULE_PATH_BENEATH, rule, 0), "landlock_add_rule")
    finally:
        os.close(fd)
    return ruleset


def die_with_parent(parent_pid):
    """SIGKILL when the parent goes; exits at once when it went already (the race)."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "PR_SET_PDEATHSIG")
    if os.getppid() != parent_pid:
        os._exit(1)


def fork():
    """fork(2) without Python's at-fork handlers: the zygote is single-threaded, and the
    handlers of threading, random and logging cost a child ~5 ms of page faults here."""
    return _check(_fork(), "fork")


class Containment:
    """Built once in the zygote, applied in each child. Everything is prepared here: on these
    VMs a child pays ~20 us for each page it writes (copy-on-write), so the child itself
    only makes the few system calls."""

    def __init__(self, writable):
        self.seccomp = platform.machine() in _ARCH
        self.landlock = landlock_abi()
        self._ruleset = landlock_ruleset(self.landlock, writable) if self.landlock else -1
        if self.seccomp:
            prog = seccomp_program()
            self._filter = ctypes.create_string_buffer(prog, len(prog))
            self._fprog = _SockFprog(len(prog) // 8, ctypes.cast(self._filter, ctypes.c_void_p))
            self._fprog_address = ctypes.addressof(self._fprog)

    def report(self):
        """What this machine enforces, for the hello line."""
        return {"seccomp": self.seccomp, "landlock": self.landlock}

    def keep_fd(self):
        """The fd the child still needs until apply() (the Landlock ruleset), or -1."""
        return self._ruleset

    def apply(self, zygote_pid):
        """In the child, last thing before the program: from here on the kernel says no."""
        die_with_parent(zygote_pid)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
        if self._ruleset >= 0:
            _check(_libc.syscall(_LL_RESTRICT, self._ruleset, 0), "landlock_restrict_self")
            os.close(self._ruleset)
        if self.seccomp:
            _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, self._fprog_address, 0, 0), "seccomp")
