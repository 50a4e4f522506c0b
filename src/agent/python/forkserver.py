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
import traceback

REPR_LIMIT = 100_000


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
    # Drop the frames of this file so the user sees only their own code.
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


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
    value = function(*args, **kwargs)
    result = {"status": "succeeded", "value": {"repr": repr(value)[:REPR_LIMIT]}}
    try:
        result["value"]["json"] = json.dumps(value)
    except (TypeError, ValueError):
        pass
    try:
        result["value"]["pickle"] = base64.b64encode(pickle.dumps(value, protocol=4)).decode()
    except Exception:
        pass
    return result


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
        out["repr"] = repr(value)[:REPR_LIMIT]
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
            result = {"task": task["task"], "ok": True, "value": serialize(function(deserialize(task["arg"])), False)}
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


def child(request, sock_path):
    """In the forked child: become the job."""
    os.setsid()
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
    sys.path[0] = request["cwd"]
    spec = request["spec"]
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
                result = run_function(spec)
            except Rejected:
                raise
            except KeyboardInterrupt:
                raise
            except BaseException as e:
                result = {"status": "failed", "error": {"type": type(e).__name__, "message": str(e), "traceback": user_traceback(e)}}
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
        result = {"status": "failed", "error": {"type": type(e).__name__, "message": str(e), "traceback": user_traceback(e)}}
        code = 1
    if result is not None:
        res.sendall((json.dumps(result) + ("\n" if spec.get("kind") == "map" else "")).encode())
    res.close()
    try:
        atexit._run_exitfuncs()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def main():
    sock_path = sys.argv[1]
    sys.path.insert(0, "")
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    # Only the job children take Ctrl-C; this process ends when the agent closes its stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    jobs = {}
    pending = b""
    emit({"ready": os.getpid()})
    while True:
        try:
            readable, _, _ = select.select([0, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in readable:
            os.read(wake_r, 4096)
            while jobs:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                job_id = jobs.pop(pid, None)
                if os.WIFSIGNALED(status):
                    emit({"exited": job_id, "signal": signal.Signals(os.WTERMSIG(status)).name})
                else:
                    emit({"exited": job_id, "code": os.WEXITSTATUS(status)})
        if 0 in readable:
            chunk = os.read(0, 65536)
            if not chunk:
                return  # the agent is gone
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
