# The Python side of rstar's step executor: a persistent interpreter that runs programs on
# request, each in a fresh namespace, under limits, answering over a line protocol on
# private copies of stdin/stdout. src/verify/executor.ts starts it and sends one request at
# a time: the next only after the reply to the one before.
#
# Request (one JSON line; ids are random strings chosen by executor.ts):
#   {"id": "9f..", "program": "...", "timeout": 5.0}              cumulative: run it fresh
#   {"id": "9f..", "program": "...", "step": "...", "tree": "t1", "node": 7, "parent": 3}
#       incremental: run only `step` on a copy of node 3's saved state (its namespace,
#       output so far and random state); without that snapshot, run `program` fresh. The
#       result is saved as node 7's snapshot either way.
#   {"drop": "t1"}                                                forget tree t1's snapshots (no reply)
# Reply (one JSON line):
#   {"id": "9f..", "ok": true, "stdout": "...", "ms": 0.4, "reused": false}
#   {"id": "9f..", "ok": false, "stdout": "...", "error": KIND, "message": "...", "ms": ...}
# Error kinds: exception, timeout, memory, cpu_limit, output_limit, recursion, sandbox (a
# blocked operation, even one the program caught), exit (sys.exit / os._exit), crash.
#
# Isolation (config "isolation"):
#   inprocess  each run gets a fresh globals dict and a fresh copy of the builtins, imports
#              hand out read-only module views, random / numpy.random are reseeded, cwd,
#              recursion limit and output are reset; a wall-clock timer interrupts it.
#              Thousands of runs per second, but the program shares the interpreter with
#              the protocol: a Python-level sandbox only (README "Sandbox").
#   fork       this process is a zygote that never runs a program: each run is a forked
#              child that closes the protocol's fds, then gets rlimits, Landlock (files may
#              be written only under the scratch dir) and a seccomp filter (no exec, fork,
#              sockets, ptrace, signals to other processes), runs the program and writes
#              its result to a pipe of its own, which the zygote checks before replying.
#              Cumulative mode only.
# In both, an audit hook refuses process creation, signals, sockets, ctypes, environment
# changes, introspection that reaches the server, and files outside the scratch dir (reads
# are also allowed under the Python installation); the environment is empty. executor.ts
# may run the whole server inside user + network namespaces.
import builtins
import copy
import gc
import json
import os
import random
import resource
import select
import shutil
import signal
import sys
import time
import traceback
import types
from collections import OrderedDict

try:
    import contain  # beside this file: seccomp, Landlock, prctl (fork isolation's kernel side)
except (ImportError, OSError, AttributeError):  # not Linux: the Python-level layers only
    contain = None

PREIMPORT = ["math", "cmath", "fractions", "decimal", "itertools", "functools", "collections", "re",
             "statistics", "string", "heapq", "bisect", "operator", "copy"]
OPTIONAL_PREIMPORT = ["numpy", "numpy.random", "sympy"]

BLOCKED_EVENTS = {
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.startfile",
    "subprocess.Popen", "pty.spawn",
    "os.kill", "os.killpg", "signal.pthread_kill",
    "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto",
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "ctypes.call_function",
    "os.putenv", "os.unsetenv", "os.chroot", "os.setuid", "os.setgid",
    "sys.setprofile", "sys.settrace", "sys._current_frames", "sys._getframe", "sys.addaudithook",
    "gc.get_referrers", "gc.get_referents", "gc.get_objects", "_thread.start_new_thread",
    "os.chmod", "os.chown", "os.link", "os.symlink", "os.chdir",
}
# Modules the server has not loaded (importing a loaded module raises no event).
BLOCKED_IMPORTS = {"ctypes", "_ctypes", "multiprocessing", "_posixsubprocess", "socket", "_socket",
                   "subprocess", "pty", "concurrent", "asyncio"}
CHANGE_EVENTS = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "shutil.rmtree", "os.truncate"}
LIST_EVENTS = {"os.listdir", "os.scandir"}  # the import system lists site-packages
# Module functions a program may not reach even through `import os`: ending or stalling
# the server, and taking over the signals that time runs.
DENIED = {
    "os": {"_exit", "abort", "fork", "forkpty", "system", "popen", "kill", "killpg", "setsid", "setpgid",
           "execv", "execve", "execl", "execle", "execlp", "execlpe", "execvp", "execvpe", "spawnl", "spawnv",
           "posix_spawn", "posix_spawnp", "dup2", "close", "closerange", "read", "write"},
    "signal": {"signal", "alarm", "setitimer", "siginterrupt", "pthread_kill", "pthread_sigmask", "set_wakeup_fd"},
    "sys": {"_getframe", "settrace", "setprofile", "setrecursionlimit", "addaudithook", "modules"},
    "builtins": {"__import__"},
    # a thread would run on after its run ends (3.11 has no audit event for starting one)
    "threading": {"Thread", "Timer", "_start_new_thread"},
    "_thread": {"start_new_thread", "start_new", "start_joinable_thread"},
}
DENIED["posix"] = DENIED["os"]
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
SEED = 0  # random and numpy.random start every program from this seed


class Sandboxed(PermissionError):
    """A blocked operation (error kind 'sandbox')."""


# The first blocked operation of the run in progress: the run is a `sandbox` error even when
# the program catches the exception (a fork bomb inside `try/except OSError` is not clean).
VIOLATION = []


def deny(message):
    if not VIOLATION:
        VIOLATION.append(message)
    return Sandboxed(message)


class RunTimeout(BaseException):
    """Raised into the program by the timer; a BaseException so `except Exception` misses it."""


class OutputLimit(BaseException):
    """The program wrote more than the hard output limit."""


class Capture:
    """A run's stdout and stderr: the first and last `keep` characters are kept, and the run
    is stopped past `limit` characters in all (the count goes on across incremental runs)."""

    def __init__(self, keep, limit):
        self.keep, self.limit = keep, limit
        self.head, self.tail, self.total = "", "", 0

    def clone(self):
        c = Capture(self.keep, self.limit)
        c.head, c.tail, c.total = self.head, self.tail, self.total
        return c

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        written = len(s)
        self.total += written
        room = self.keep - len(self.head)
        if room > 0:
            self.head += s[:room]
            s = s[room:]
        if s:
            self.tail = (self.tail + s)[-self.keep:]
        if self.total > self.limit:
            raise OutputLimit(f"more than {self.limit} characters of output")
        return written

    def flush(self):
        pass

    def isatty(self):
        return False

    def text(self):
        cut = self.total - len(self.head) - len(self.tail)
        if cut > 0:
            return f"{self.head}\n... [{cut} characters cut] ...\n{self.tail}"
        return self.head + self.tail


class ReadOnlyModule:
    """What `import` gives a program: a module's attributes, read-only, so no run can change a
    module for the next one. Submodules come wrapped too."""

    __slots__ = ("_module",)

    def __init__(self, module):
        object.__setattr__(self, "_module", module)

    def __getattr__(self, name):
        module = object.__getattribute__(self, "_module")
        if name in DENIED.get(module.__name__, ()):
            raise deny(f"{module.__name__}.{name} is not allowed")
        value = getattr(module, name)
        return view(value) if isinstance(value, types.ModuleType) else value

    def __setattr__(self, name, value):
        raise deny(f"changing module {object.__getattribute__(self, '_module').__name__} is not allowed")

    __delattr__ = __setattr__

    @property
    def __dict__(self):
        return types.MappingProxyType(object.__getattribute__(self, "_module").__dict__)

    def __dir__(self):
        return dir(object.__getattribute__(self, "_module"))

    def __repr__(self):
        return repr(object.__getattribute__(self, "_module"))

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self


_views = {}


def view(module):
    v = _views.get(id(module))
    if v is None:
        v = _views[id(module)] = ReadOnlyModule(module)
    return v


def sandboxed_import(name, globals=None, locals=None, fromlist=(), level=0):
    module = builtins.__import__(name, globals, locals, fromlist, level)
    return view(module)


def install_audit_hook(scratch, read_roots):
    """Installs the hook for good; returns a function that opens it for the server's own work."""
    write_roots = (scratch,)
    gate = [False]

    def hook(event, args):
        if gate[0]:
            return
        if event in BLOCKED_EVENTS:
            raise deny(f"{event} is not allowed")
        if event == "import" and args[0].split(".")[0] in BLOCKED_IMPORTS:
            raise deny(f"import {args[0]} is not allowed")
        if event == "open":
            path, _mode, flags = args
            if isinstance(path, int) or path is None:
                return
            path = os.fsdecode(path)
            writing = flags is not None and flags & WRITE_FLAGS
            if writing and not under(path, write_roots):
                raise deny(f"writing {path} is not allowed (only the scratch dir)")
            if not writing and not under(path, read_roots):
                raise deny(f"reading {path} is not allowed")
        elif event in CHANGE_EVENTS or event in LIST_EVENTS:
            roots = write_roots if event in CHANGE_EVENTS else read_roots
            for p in args:
                if isinstance(p, (str, bytes)) and not under(os.fsdecode(p), roots):
                    raise deny(f"{event} of {os.fsdecode(p)} is not allowed")

    sys.addaudithook(hook)

    class Open:
        def __enter__(self):
            gate[0] = True

        def __exit__(self, *exc):
            gate[0] = False

    return Open()


def allowed_read_roots(scratch):
    roots = {scratch}
    for p in [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path]:
        if p and os.path.isdir(p):
            roots.add(os.path.realpath(p))
    return tuple(sorted(roots))


def under(path, roots):
    real = os.path.realpath(path)
    return any(real == r or real.startswith(r + os.sep) for r in roots)


def classify(e):
    if isinstance(e, Sandboxed):
        return "sandbox", f"sandbox: {e}"
    if isinstance(e, RunTimeout):
        return "timeout", str(e)
    if isinstance(e, OutputLimit):
        return "output_limit", str(e)
    if isinstance(e, MemoryError):
        return "memory", "MemoryError: the memory limit was reached"
    if isinstance(e, RecursionError):
        return "recursion", f"RecursionError: {e}"
    if isinstance(e, SystemExit):
        return "exit", f"SystemExit: {e.code}"
    return "exception", f"{type(e).__name__}: {e}"


def error_of(e, keep):
    kind, message = classify(e)
    if len(message) > keep:  # a message is data the program chose: bounded like its output
        message = message[:keep] + f" ... [{len(message) - keep} characters cut]"
    if kind == "exception":
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == "<program>"]
        if frames:
            message = f"{message} (line {frames[-1].lineno})"
    return kind, message


class State:
    """What a program leaves behind: its namespace, output and random states (a snapshot in
    incremental mode), and its error if it failed (a failed program stays failed)."""

    def __init__(self, namespace, capture, rng, np_rng, error=None):
        self.namespace, self.capture, self.rng, self.np_rng, self.error = namespace, capture, rng, np_rng, error
        # Saving numpy's random state costs more than a short step: states are saved only
        # once a program of the chain mentions "random" (None: still at the seed).
        self.random = rng is not None


def fresh_builtins():
    b = dict(builtins.__dict__)
    b["__import__"] = sandboxed_import
    for name in ("exit", "quit", "help", "breakpoint", "input", "copyright", "credits", "license"):
        b.pop(name, None)
    return b


def clone_namespace(namespace):
    """A deep copy in which functions defined by the program see the copy as their globals.
    None when the state cannot be copied faithfully (then the program is run again)."""
    new = {}
    memo = {id(namespace): new}

    def rebind(f, memo):
        if f.__globals__ is not namespace:
            return f
        g = types.FunctionType(f.__code__, new, f.__name__, copy.deepcopy(f.__defaults__, memo), f.__closure__)
        g.__kwdefaults__ = copy.deepcopy(f.__kwdefaults__, memo)
        g.__qualname__, g.__doc__ = f.__qualname__, f.__doc__
        g.__dict__.update(f.__dict__)
        memo[id(f)] = g
        return g

    saved = copy._deepcopy_dispatch.get(types.FunctionType)
    copy._deepcopy_dispatch[types.FunctionType] = rebind
    try:
        for key, value in namespace.items():
            if key == "__builtins__":
                new[key] = dict(value)
            elif isinstance(value, type) and value.__module__ == "__main__":
                return None  # a class of the program: its methods would keep the old globals
            elif type(value).__module__ == "__main__" and not isinstance(value, types.FunctionType):
                return None
            else:
                new[key] = immutable_or_copy(value, memo)
        return new
    except Exception:  # noqa: BLE001 - generators, locks, files...: not copyable
        return None
    finally:
        copy._deepcopy_dispatch[types.FunctionType] = saved


_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), range, types.BuiltinFunctionType, ReadOnlyModule)


def immutable_or_copy(value, memo):
    if isinstance(value, _IMMUTABLE):
        return value
    basic = _sympy_basic()
    if basic is not None and isinstance(value, basic):
        return value  # sympy expressions are immutable
    return copy.deepcopy(value, memo)


def _sympy_basic():
    module = sys.modules.get("sympy")
    return getattr(module, "Basic", None) if module else None


class Server:
    def __init__(self, config):
        self.limits = config["limits"]
        self.isolation = config.get("isolation", "inprocess")
        self.scratch = os.path.realpath(config["scratch"])
        self.workdir = os.path.join(self.scratch, "run")
        os.makedirs(self.workdir, exist_ok=True)
        self.snapshots = OrderedDict()  # (tree, node) -> State, least recently used first
        self.max_snapshots = int(config.get("max_snapshots", 2048))
        self.recursion_limit = sys.getrecursionlimit()
        self.numpy = sys.modules.get("numpy")
        self.pid = os.getpid()
        if self.isolation == "fork" and contain is None:
            raise SystemExit("executor: fork isolation needs Linux (prctl, seccomp)")
        # The most a child's honest result takes: output head and tail, a message, each
        # char at most 12 bytes of JSON (an escaped surrogate pair).
        self.max_reply = 12 * (3 * self.limits["keep_chars"] + 512)
        self.gate = install_audit_hook(self.scratch, allowed_read_roots(self.scratch))
        signal.signal(signal.SIGALRM, self.on_alarm)
        self.deadline_s = 0.0
        if self.isolation == "fork":
            # What every child needs, made once here: a child inherits it pristine (its
            # writes are its own copies), and pays for each page it writes.
            with self.gate:
                self.containment = contain.Containment(self.scratch)
                self.rlimits = child_rlimits(self.limits)
                os.chdir(self.workdir)
            self.pristine = State({"__name__": "__main__", "__builtins__": fresh_builtins()},
                                  Capture(self.limits["keep_chars"], self.limits["output_chars"]), None, None)
            reseed(self.numpy)  # and never used here again: each child starts from the seed

    def on_alarm(self, signum, frame):
        raise RunTimeout(f"timed out after {self.deadline_s:g} s")

    # --- one request --------------------------------------------------------------------
    def drop(self, tree):
        for key in [k for k in self.snapshots if k[0] == tree]:
            del self.snapshots[key]

    def handle(self, request):
        timeout = float(request.get("timeout", self.limits["timeout_s"]))
        start = time.perf_counter()
        if self.isolation == "fork":
            reply = self.run_forked(request["program"], timeout)
        else:
            reply = self.run_inprocess(request, timeout)
        reply["ms"] = round((time.perf_counter() - start) * 1000, 3)
        return reply

    def run_inprocess(self, request, timeout):
        parent = None
        if "node" in request and request.get("parent") is not None:
            parent = self.snapshots.get((request["tree"], request["parent"]))
            if parent is not None:
                self.snapshots.move_to_end((request["tree"], request["parent"]))
        state = None
        if parent is not None and parent.error is not None:
            state = parent  # cumulative mode would stop at the same error
        elif parent is not None:
            namespace = clone_namespace(parent.namespace)
            if namespace is not None:
                state = State(namespace, parent.capture.clone(), parent.rng, parent.np_rng)
                state.random = parent.random
                # Blank lines for the code before it: errors name the program's line numbers.
                prefix = request["program"][: len(request["program"]) - len(request["step"])]
                state = self.execute("\n" * prefix.count("\n") + request["step"], state, timeout)
        reused = state is not None
        if state is None:
            fresh = State({"__name__": "__main__", "__builtins__": fresh_builtins()},
                          Capture(self.limits["keep_chars"], self.limits["output_chars"]), None, None)
            state = self.execute(request["program"], fresh, timeout)
        if "node" in request:
            self.snapshots[(request["tree"], request["node"])] = state
            while len(self.snapshots) > self.max_snapshots:
                self.snapshots.popitem(last=False)
        reply = {"ok": state.error is None, "stdout": state.capture.text(), "reused": reused}
        if state.error is not None:
            reply["error"], reply["message"] = state.error
        return reply

    def execute(self, code, state, timeout, reset=True):
        """Runs code on state (changed in place) with the per-run resets and limits."""
        if reset:
            if state.rng is None:
                reseed(self.numpy)
            else:
                random.setstate(state.rng)
                if self.numpy is not None:
                    self.numpy.random.set_state(state.np_rng)
            with self.gate:
                os.chdir(self.workdir)
        state.random = state.random or "random" in code
        self.deadline_s = timeout
        sys.stdout = sys.stderr = state.capture
        error = None
        VIOLATION.clear()
        try:
            # A repeating timer: a program that catches the first interrupt gets another.
            signal.setitimer(signal.ITIMER_REAL, timeout, 0.05)
            exec(compile(code, "<program>", "exec"), state.namespace)
        except BaseException as e:  # noqa: BLE001 - all the program raises is its error
            error = error_of(e, self.limits["keep_chars"])
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
            sys.setrecursionlimit(self.recursion_limit)
        if VIOLATION and (error is None or error[0] != "sandbox"):
            error = ("sandbox", f"sandbox: {VIOLATION[0]} (the program caught it)")
        state.error = error
        if state.random:
            state.rng = random.getstate()
            if self.numpy is not None:
                state.np_rng = self.numpy.random.get_state()
        with self.gate:
            clear_dir(self.workdir)
        return state

    # --- fork isolation -----------------------------------------------------------------
    def run_forked(self, program, timeout):
        r, w = os.pipe()
        with self.gate:
            pid = contain.fork()
        if pid == 0:
            self.forked_child(program, r, w)
        os.close(w)
        data, timed_out = read_until(r, time.perf_counter() + timeout, self.max_reply)
        os.close(r)
        with self.gate:
            kill_group(pid)
            _, status = os.waitpid(pid, 0)
            clear_dir(self.workdir)
        if timed_out:
            return {"ok": False, "stdout": "", "error": "timeout", "message": f"timed out after {timeout:g} s"}
        if len(data) > self.max_reply:
            return sandbox_reply("the program wrote more to its result pipe than any result holds")
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == CONTAIN_FAILED:
            return {"ok": False, "stdout": "", "error": "crash",
                    "message": f"executor: the child could not be contained: {data[:500].decode(errors='replace')}"}
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            reply = checked_result(data)
            # A program that reached its result pipe can write its own result; a malformed
            # one is its doing too.
            return reply if reply is not None else sandbox_reply("the program broke its result pipe")
        return self.status_reply(status)

    def forked_child(self, program, r, w):
        """In the child: contained, a fresh run, the result on w, exit. Never returns."""
        try:
            with self.gate:
                os.setsid()
                for kind, value in self.rlimits:
                    resource.setrlimit(kind, value)
                # Only 0-2 (/dev/null) and the result pipe stay open: not the protocol.
                keep = sorted({w, self.containment.keep_fd()} - {-1})
                for lo, hi in zip([3] + [k + 1 for k in keep], keep + [MAX_FD]):
                    if lo < hi:
                        os.closerange(lo, hi)
                self.containment.apply(self.pid)
        except BaseException as e:  # noqa: BLE001 - the zygote reports it
            write_all(w, f"{type(e).__name__}: {e}".encode())
            os._exit(CONTAIN_FAILED)
        try:
            state = self.pristine
            self.execute(program, state, 1e9, reset=False)  # the zygote keeps the time
            reply = {"ok": state.error is None, "stdout": state.capture.text(), "reused": False}
            if state.error is not None:
                reply["error"], reply["message"] = state.error
        except BaseException as e:  # noqa: BLE001 - the executor's own failure, said as such
            reply = {"ok": False, "stdout": "", "error": "crash", "message": f"executor: {type(e).__name__}: {e}"[:1000]}
        try:
            write_all(w, json.dumps(reply).encode())
        finally:
            os._exit(0)

    def status_reply(self, status):
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig == signal.SIGXCPU:
                return {"ok": False, "stdout": "", "error": "cpu_limit",
                        "message": f"CPU time limit ({self.limits['cpu_s']} s) exceeded"}
            if sig == signal.SIGSYS:
                return sandbox_reply("a blocked system call (the seccomp filter killed the program)")
            if sig == signal.SIGKILL:
                return {"ok": False, "stdout": "", "error": "memory", "message": "killed (out of memory?)"}
            return {"ok": False, "stdout": "", "error": "crash", "message": f"killed by {signal.Signals(sig).name}"}
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        return {"ok": False, "stdout": "", "error": "exit", "message": f"the program exited with status {code}"}


MAX_FD = 1 << 16
CONTAIN_FAILED = 70
KINDS = {"exception", "timeout", "memory", "cpu_limit", "output_limit", "recursion", "sandbox", "exit", "crash"}


def sandbox_reply(message):
    return {"ok": False, "stdout": "", "error": "sandbox", "message": f"sandbox: {message}"}


def checked_result(data):
    """A child's result, if it has the shape forked_child writes; None otherwise."""
    try:
        reply = json.loads(data)
    except ValueError:
        return None
    if not isinstance(reply, dict) or not set(reply) <= {"ok", "stdout", "error", "message", "reused"}:
        return None
    if not isinstance(reply.get("ok"), bool) or not isinstance(reply.get("stdout"), str):
        return None
    if not reply["ok"] and not (reply.get("error") in KINDS and isinstance(reply.get("message"), str)):
        return None
    reply["reused"] = False
    return reply


def child_rlimits(limits):
    """setrlimit arguments for a forked child: address space (what the zygote has mapped plus
    the allowance, so preloaded modules do not eat the program's share), CPU, file size,
    open files, no core dumps."""
    with open("/proc/self/statm") as f:
        mapped = int(f.read().split()[0]) * resource.getpagesize()
    wanted = [(resource.RLIMIT_AS, mapped + limits["memory_mb"] * 1024 * 1024, 0),
              (resource.RLIMIT_CPU, limits["cpu_s"], 1),  # SIGXCPU at the soft limit, KILL a second later
              (resource.RLIMIT_FSIZE, limits["file_mb"] * 1024 * 1024, 0),
              (resource.RLIMIT_NOFILE, 64, 0),
              (resource.RLIMIT_CORE, 0, 0)]
    out = []
    for kind, value, extra in wanted:
        _soft, hard = resource.getrlimit(kind)
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        out.append((kind, (value, value + extra if hard == resource.RLIM_INFINITY else hard)))
    return out


def reseed(numpy):
    random.seed(SEED)
    if numpy is not None:
        numpy.random.seed(SEED)


def clear_dir(path):
    """Empties a run's working directory; the directory itself stays (a zygote's cwd)."""
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def read_until(fd, deadline, most):
    """What fd gives until EOF, the deadline (then True) or more than `most` bytes."""
    chunks, size = [], 0
    while size <= most:
        left = deadline - time.perf_counter()
        if left <= 0:
            return b"".join(chunks), True
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return b"".join(chunks), True
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


def kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def main():
    config = json.loads(sys.argv[1])
    # A terminal's Ctrl-C reaches the whole process group: the run stops on its own terms
    # (executor.ts closes this interpreter), not by losing the programs in flight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if contain is not None:
        contain.die_with_parent(config["parent_pid"])
    # The protocol gets private copies of stdin and stdout; a program that writes to fd 1
    # or reads fd 0 reaches /dev/null instead.
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.makedirs(config["scratch"], exist_ok=True)
    loaded = []
    for name in PREIMPORT + (OPTIONAL_PREIMPORT if config.get("preimport_optional", True) else []):
        try:
            __import__(name)
            loaded.append(name)
        except Exception:  # noqa: BLE001 - optional modules may be absent
            pass
    inprocess = config.get("isolation", "inprocess") == "inprocess"
    if inprocess:
        # The whole server is the program's process: cap it. (fork caps each child instead.)
        limits = config["limits"]
        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (mapped + limits["memory_mb"] * 1024 * 1024,) * 2)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_mb"] * 1024 * 1024,) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.environ.clear()
    # The preloaded modules' objects live for good: keep the cyclic collector off them, and
    # let it run less often (saved states keep many objects alive).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)
    server = Server(config)
    if inprocess:
        # Programs run in this process: leave them no loaded ctypes to reach for.
        for name in [m for m in sys.modules if m == "contain" or m.split(".")[0] in ("ctypes", "_ctypes")]:
            del sys.modules[name]
    write_line(proto_out, {"ready": True, "pid": os.getpid(), "python": sys.version.split()[0],
                           "preimported": loaded, "isolation": server.isolation,
                           "containment": None if inprocess else server.containment.report()})
    buffer = b""
    while True:
        chunk = os.read(proto_in, 1 << 16)
        if not chunk:
            return
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            request = json.loads(line)
            if "drop" in request:
                server.drop(request["drop"])
                continue
            try:
                reply = server.handle(request)
            except MemoryError:
                reply = {"ok": False, "stdout": "", "error": "memory", "message": "MemoryError: the memory limit was reached"}
            except Exception as e:  # noqa: BLE001 - the server must answer; say what broke
                reply = {"ok": False, "stdout": "", "error": "crash", "message": f"executor: {type(e).__name__}: {e}"}
            reply["id"] = request["id"]
            write_line(proto_out, reply)


def write_all(fd, data):
    view_ = memoryview(data)
    while view_:
        view_ = view_[os.write(fd, view_):]


def write_line(fd, obj):
    write_all(fd, (json.dumps(obj) + "\n").encode())


if __name__ == "__main__":
    main()
