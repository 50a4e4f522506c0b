# Meadowrun's job starter on an instance. Dependency-free; runs on Python 3.7+.
#
# Starting Python costs ~20 ms, more than a whole warm job should. So the agent keeps one of
# these per interpreter: it pays the start-up once, and for every job forks a child that runs
# just that job and exits (each job still gets its own process). The child reports its output
# and result over a Unix socket to the agent; this process reports each child's pid and exit
# status on stdout, one JSON line per event, and reads job requests from stdin the same way.
import ast
import atexit
import base64
import ctypes
import importlib
import importlib.util
import json
import os
import pickle
import runpy
import select
import signal
import socket
import sys
import time
import traceback
import types

REPR_LIMIT = 100_000
# A result message larger than this goes to a file that the client fetches over SFTP (protocol.ts INLINE_LIMIT).
INLINE_LIMIT = 1 << 20
# A pickle larger than this is not sent inline (as base64) but left in a file for the client.
PICKLE_INLINE_LIMIT = 512 << 10
# How long a finished job's leftover processes get between SIGTERM and SIGKILL.
KILL_GRACE_S = 1.0
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
# In the environment of every process a job starts: whose it is.
JOB_MARKER = "MEADOWRUN_AGENT_JOB"


def emit(event):
    os.write(1, (json.dumps(event) + "\n").encode())


class Rejected(Exception):
    """The user's input is wrong: reported as one line, without a traceback."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def connect(path, job_id, stream):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(("%s %s\n" % (job_id, stream)).encode())
    return s


def user_traceback(exc):
    # Drop the frames of this file, and of asyncio running a coroutine function for us (see call),
    # so the user sees only their own code.
    tb = exc.__traceback__
    while tb is not None and (tb.tb_frame.f_code.co_filename == __file__ or is_asyncio_frame(tb.tb_frame)):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def is_asyncio_frame(frame):
    return "%sasyncio%s" % (os.sep, os.sep) in frame.f_code.co_filename


def call(function, *args, **kwargs):
    """Calls the user's function; an `async def` one (its call returns a coroutine) runs to completion."""
    value = function(*args, **kwargs)
    if isinstance(value, types.CoroutineType):
        # Imported here: most jobs never need it, and it costs the fork server's start-up ~20 ms.
        import asyncio

        return asyncio.run(value)
    return value


def parse_literal(text, what):
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
        raise Rejected("bad-arguments", "%s are neither a Python literal nor JSON: %s (%s)" % (what, text, e))


def syntax_message(path, e):
    where = os.path.relpath(path) if e.filename in (None, path) else e.filename
    return "Syntax error in %s, line %s: %s" % (where, e.lineno, e.msg)


def load_module(target_module):
    if target_module.endswith(".py") or "/" in target_module:
        path = os.path.abspath(target_module)
        if not os.path.isfile(path):
            raise Rejected("not-found", "No such file in the project: %s" % target_module)
        rel = os.path.relpath(path)
        name = rel[:-3].replace(os.sep, ".") if not rel.startswith("..") else os.path.basename(path)[:-3]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except SyntaxError as e:
            raise Rejected("syntax-error", syntax_message(path, e))
        return module
    try:
        return importlib.import_module(target_module)
    except SyntaxError as e:
        raise Rejected("syntax-error", syntax_message(e.filename or target_module, e))
    except ModuleNotFoundError as e:
        if e.name and target_module.startswith(e.name):
            raise Rejected("not-found", "No module named %s in the project or the interpreter" % target_module)
        raise


def run_function(spec):
    module_name, _, function_name = spec["target"].rpartition(":")
    if not module_name or not function_name:
        raise Rejected("bad-target", "Expected FILE.py:FUNCTION or package.module:FUNCTION, got %s" % spec["target"])
    args = parse_literal(spec.get("args") or "[]", "Arguments")
    if not isinstance(args, (list, tuple)):
        raise Rejected("bad-arguments", "Arguments must be a list of positional arguments, e.g. [2, 3]")
    kwargs = parse_literal(spec.get("kwargs") or "{}", "Keyword arguments")
    if not isinstance(kwargs, dict):
        raise Rejected("bad-arguments", "Keyword arguments must be a dict, e.g. {\"n\": 3}")
    module = load_module(module_name)
    function = getattr(module, function_name, None)
    if function is None:
        raise Rejected("not-found", "%s has no function %s" % (module_name, function_name))
    if not callable(function):
        raise Rejected("not-found", "%s.%s is not a function" % (module_name, function_name))
    return call(function, *args, **kwargs)


class Unserializable(Exception):
    """The function returned, but its value could not be turned into a result."""


def bounded_repr(value):
    text = repr(value)
    if len(text) <= REPR_LIMIT:
        return text
    return "%s… [truncated, %d characters total]" % (text[:REPR_LIMIT], len(text))


class SpillFile:
    """Holds a pickle in memory while it is small, and writes it to `path` once it is not."""

    def __init__(self, path, limit):
        self.path, self.limit, self.size = path, limit, 0
        self.memory = []
        self.file = None

    def write(self, data):
        self.size += len(data)
        if self.file is None and self.size > self.limit:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            self.file = os.fdopen(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
            for chunk in self.memory:
                self.file.write(chunk)
            self.memory = None
        if self.file is None:
            self.memory.append(bytes(data))
        else:
            self.file.write(data)

    def discard(self):
        if self.file is not None:
            self.file.close()
            os.unlink(self.path)


def describe_value(value, results_path):
    """The value as the client gets it: a repr always; JSON and a pickle when they can be made."""
    try:
        out = {"repr": bounded_repr(value)}
    except BaseException as e:
        raise Unserializable("repr() raised %s: %s" % (type(e).__name__, e)) from e
    spill = SpillFile(results_path + ".pickle", PICKLE_INLINE_LIMIT)
    try:
        pickle.Pickler(spill, protocol=4).dump(value)
    except Exception as e:
        spill.discard()
        out["pickleError"] = "%s: %s" % (type(e).__name__, e)
    else:
        if spill.file is None:
            out["pickle"] = base64.b64encode(b"".join(spill.memory)).decode()
        else:
            spill.file.close()
            out["pickleFile"] = spill.path
            out["pickleBytes"] = spill.size
    # JSON only for values small enough to travel inline: the pickle is the faithful form of a big one.
    if spill.size <= PICKLE_INLINE_LIMIT or "pickleError" in out:
        try:
            text = json.dumps(value)
            if len(text) <= PICKLE_INLINE_LIMIT:
                out["json"] = text
        except (TypeError, ValueError):
            pass
        except Exception as e:
            raise Unserializable("json.dumps raised %s: %s" % (type(e).__name__, e)) from e
    return out


def serialize(value, with_repr):
    out = {}
    try:
        out["json"] = json.dumps(value)
    except (TypeError, ValueError):
        try:
            out["pickle"] = base64.b64encode(pickle.dumps(value, protocol=4)).decode()
        except Exception:
            pass
        with_repr = True
    if with_repr:
        out["repr"] = bounded_repr(value)
    return out


def deserialize(arg):
    if "json" in arg:
        return json.loads(arg["json"])
    return pickle.loads(base64.b64decode(arg["pickle"]))


def load_function(target):
    module_name, _, function_name = target.rpartition(":")
    module = load_module(module_name)
    function = getattr(module, function_name, None)
    if function is None or not callable(function):
        raise Rejected("not-found", "%s has no function %s" % (module_name, function_name))
    return function


def run_map_worker(spec, channel):
    """A map worker: import once, then call the function for each task the agent sends."""
    function = load_function(spec["target"])
    reader = channel.makefile("rb")
    channel.sendall(b'{"ready": true}\n')
    for line in reader:
        task = json.loads(line)
        try:
            result = {"task": task["task"], "ok": True, "value": serialize(call(function, deserialize(task["arg"])), False)}
        except KeyboardInterrupt:
            raise
        except BaseException as e:
            result = {"task": task["task"], "ok": False, "error": {"type": type(e).__name__, "message": str(e), "traceback": user_traceback(e)}}
        channel.sendall((json.dumps(result) + "\n").encode())


def evaluate_arguments(spec):
    """A map's arguments given as a Python expression, evaluated here, on the instance."""
    try:
        values = list(eval(spec["expr"], {"__builtins__": __builtins__}))
    except SyntaxError as e:
        raise Rejected("bad-arguments", "The arguments expression has a syntax error: %s" % e.msg)
    except TypeError as e:
        raise Rejected("bad-arguments", "The arguments expression is not iterable: %s" % e)
    return {"status": "succeeded", "value": {"json": json.dumps([serialize(v, False) for v in values])}}


def run_command(spec):
    path = os.path.abspath(spec["file"])
    if not os.path.isfile(path):
        raise Rejected("not-found", "No such file in the project: %s" % spec["file"])
    with open(path, "rb") as f:
        source = f.read()
    try:
        compile(source, path, "exec")
    except SyntaxError as e:
        raise Rejected("syntax-error", syntax_message(path, e))
    sys.argv = [spec["file"]] + list(spec.get("args", []))
    sys.path[0] = os.path.dirname(path)
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit:
        raise
    except BaseException as e:
        sys.stderr.write(user_traceback(e))
        return 1
    return 0


try:
    LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:
    LIBC = None


def prctl(option, value):
    """Linux only; elsewhere a no-op."""
    try:
        LIBC.prctl(option, value, 0, 0, 0)
    except AttributeError:
        pass


def send_result(res, result, results_path, newline):
    text = json.dumps(result)
    if len(text) > INLINE_LIMIT:
        # Too big for the agent to hold: it passes the file's path on, and the client fetches it.
        path = results_path + ".json"
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(text)
        text = json.dumps({"status": result["status"], "outcomeFile": path})
    res.sendall((text + ("\n" if newline else "")).encode())


def error_of(e):
    return {"type": type(e).__name__, "message": str(e), "traceback": user_traceback(e)}


def child(request, sock_path):
    """In the forked child: become the job."""
    # Its own session, so that whatever it starts can be stopped with it as one group.
    os.setsid()
    # If the fork server dies (the agent died), so does the job.
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.set_wakeup_fd(-1)
    job_id = request["jobId"]
    out = connect(sock_path, job_id, "stdout")
    err = connect(sock_path, job_id, "stderr")
    res = connect(sock_path, job_id, "result")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    os.chdir(request["cwd"])
    os.environ.update(request.get("env") or {})
    # Marks every process the job starts, even one in a session of its own, as this job's.
    os.environ[JOB_MARKER] = job_id
    sys.path[0] = request["cwd"]
    spec = request["spec"]
    results_path = os.path.join(request["resultsDir"], job_id)
    code = 0
    try:
        if spec["kind"] == "map":
            # Its first line on the channel is {"ready": true}, or the outcome that stopped it.
            run_map_worker(spec, res)
            result = None
        elif spec["kind"] == "args":
            result = evaluate_arguments(spec)
        elif spec["kind"] == "function":
            try:
                value = run_function(spec)
            except Rejected:
                raise
            except KeyboardInterrupt:
                raise
            except BaseException as e:
                result = {"status": "failed", "error": error_of(e)}
            else:
                try:
                    result = {"status": "succeeded", "value": describe_value(value, results_path)}
                except Unserializable as e:
                    cause = e.__cause__ or e
                    result = {"status": "unserializable", "message": str(e), "error": error_of(cause)}
        else:
            code = run_command(spec)
            result = None
    except Rejected as e:
        result = {"status": "rejected", "code": e.code, "message": str(e)}
        code = 2
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if e.code is not None and not isinstance(e.code, int):
            sys.stderr.write("%s\n" % e.code)
        result = None
    except KeyboardInterrupt:
        result = {"status": "cancelled"}
        code = 130
    except BaseException as e:
        # Never let an error escape into the fork server's loop: this process is a job.
        result = {"status": "failed", "error": error_of(e)}
        code = 1
    try:
        if result is not None:
            try:
                send_result(res, result, results_path, spec.get("kind") == "map")
            except OSError as e:
                # No room for a large result (a full disk, say): say so rather than nothing.
                message = "the result could not be stored on the instance: %s" % e
                res.sendall(json.dumps({"status": "unserializable", "message": message, "error": error_of(e)}).encode())
        res.close()
        atexit._run_exitfuncs()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            # Background children may hold copies of stdout and stderr: end both streams for all
            # of them, so that the agent needn't wait for those children to finish.
            for s in (out, err):
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
            os._exit(code)


def my_children():
    me = os.getpid()
    try:
        with open("/proc/%d/task/%d/children" % (me, me)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        pass
    found = []
    for p in os.listdir("/proc") if os.path.isdir("/proc") else []:
        try:
            with open("/proc/%s/stat" % p) as f:
                stat = f.read()
            if int(stat[stat.rindex(")") + 2:].split()[1]) == me:
                found.append(int(p))
        except (OSError, ValueError):
            pass
    return found


def job_marker(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            for entry in f.read().split(b"\0"):
                if entry.startswith(JOB_MARKER.encode() + b"="):
                    return entry.split(b"=", 1)[1].decode()
    except OSError:
        pass
    return None


def kill_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass


def kill_leftovers(jobs, sig):
    """Stops processes that ended jobs left behind. This process is their subreaper: a job's
    orphans, even those in a session of their own, become its children."""
    running = set(jobs.values())
    for pid in my_children():
        if pid in jobs:
            continue
        try:
            sid = os.getsid(pid)
        except OSError:
            continue
        if sid in jobs or job_marker(pid) in running:
            continue  # an orphan of a job that still runs
        try:
            kill_group(os.getpgid(pid), sig)
            os.kill(pid, sig)
        except OSError:
            pass


def main():
    sock_path = sys.argv[1]
    sys.path.insert(0, "")
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    jobs = {}
    if os.environ.pop("MEADOWRUN_FORWARD_SIGINT", None):
        # In a container the agent can't signal the job's process group itself: it sends Ctrl-C to
        # the container (docker kill --signal SIGINT), and this process passes it on to every job.
        signal.signal(signal.SIGINT, lambda *_: [kill_group(pid, signal.SIGINT) for pid in list(jobs)])
    else:
        # Only the job children take Ctrl-C; this process ends when the agent closes its stdin.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    # (deadline, process group): what a finished job left running gets SIGKILL after a grace period.
    to_kill = []
    pending = b""
    emit({"ready": os.getpid()})
    while True:
        timeout = max(0.0, to_kill[0][0] - time.monotonic()) if to_kill else None
        try:
            readable, _, _ = select.select([0, wake_r], [], [], timeout)
        except InterruptedError:
            continue
        if to_kill and to_kill[0][0] <= time.monotonic():
            _, pgid = to_kill.pop(0)
            kill_group(pgid, signal.SIGKILL)
            kill_leftovers(jobs, signal.SIGKILL)
        if wake_r in readable:
            os.read(wake_r, 4096)
            while True:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                job_id = jobs.pop(pid, None)
                if job_id is None:
                    continue  # a job's orphan, inherited as their subreaper
                if os.WIFSIGNALED(status):
                    emit({"exited": job_id, "signal": signal.Signals(os.WTERMSIG(status)).name})
                else:
                    emit({"exited": job_id, "code": os.WEXITSTATUS(status)})
                # The job has ended: so has everything it started.
                kill_group(pid, signal.SIGTERM)
                kill_leftovers(jobs, signal.SIGTERM)
                to_kill.append((time.monotonic() + KILL_GRACE_S, pid))
        if 0 in readable:
            chunk = os.read(0, 65536)
            if not chunk:
                # The agent is gone, and nobody will read what its jobs produce: stop them all.
                for pid in jobs:
                    kill_group(pid, signal.SIGKILL)
                kill_leftovers({}, signal.SIGKILL)
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    os.close(wake_r)
                    os.close(wake_w)
                    child(request, sock_path)
                jobs[pid] = request["jobId"]
                emit({"started": request["jobId"], "pid": pid})


if __name__ == "__main__":
    main()
