"""The worker: runs inside a tested env, imports the framework once and runs each cell in a child.

Standard library only (numpy is used when the env has it), Python 3.8 or newer. The harness
never imports this file: it runs it with the env's own interpreter.

Modes
-----
``worker.py --describe``
    Print one JSON object describing the env: Python version, every installed distribution
    with its version, and which distributions provide each top-level module.
``worker.py --serve --reply-fd N [--preload mod1,mod2]``
    Import the preload modules once, then answer requests: one JSON request per line on stdin,
    one JSON reply per line on file descriptor N. Each request runs in a forked child, so a
    crash, hang or leaked state in one cell never reaches another. The first reply is
    ``{"event": "ready", ...}``.
``worker.py --cell REQUEST.json``
    Run one request in this very process (isolation without fork; pays the import each time).

Requests (``op`` is ``run``, ``save`` or ``load``) name the scenario file, a private work
folder, where to write the result and the cell's output, the timeout, and the comparison
tolerances. The child writes a result file (what the scenario did: returned, raised, or broke
the contract at run time, plus the comparison of values); the serving parent replies with how
the child ended (``done``, ``died`` with exit status or signal, ``timed_out``). Deciding the
verdict is the harness's job, not this file's.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import platform
import re
import select
import signal
import sys
import time
import traceback

RESULT_FORMAT = 1
_POLL_S = 0.02
_MAX_MESSAGE = 20000
_MAX_TRACEBACK = 40000


# --------------------------------------------------------------------------- describe


def describe():
    """What this env is and holds, as plain data."""
    from importlib import metadata

    packages = {}
    modules = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        canonical = _canonical(name)
        packages[canonical] = dist.version
        for module in _top_level_modules(dist):
            modules.setdefault(module, [])
            if canonical not in modules[module]:
                modules[module].append(canonical)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "packages": dict(sorted(packages.items())),
        "modules": dict(sorted(modules.items())),
    }


def _canonical(name):
    out = []
    previous_dash = False
    for ch in name.lower():
        if ch in "-_.":
            if not previous_dash:
                out.append("-")
            previous_dash = True
        else:
            out.append(ch)
            previous_dash = False
    return "".join(out)


def _top_level_modules(dist):
    text = dist.read_text("top_level.txt")
    if text:
        return sorted({line.strip() for line in text.splitlines() if line.strip() and "/" not in line})
    found = set()
    for file in dist.files or ():
        parts = file.parts
        if not parts:
            continue
        head = parts[0]
        if head.endswith((".dist-info", ".data", ".egg-info")) or head in ("..", "__pycache__", "bin"):
            continue
        if len(parts) == 1:
            if head.endswith(".py"):
                found.add(head[:-3])
            elif head.endswith((".so", ".pyd")):
                found.add(head.split(".")[0])
        elif head.isidentifier():
            found.add(head)
    return sorted(found)


# --------------------------------------------------------------------------- one cell


class ContractBroken(Exception):
    """The scenario broke the contract at run time (bad return value, missing function)."""


def run_request(request):
    """Run one request in this process and write its result file. Returns nothing.

    A ``SystemExit`` raised by the scenario ends this process with its code, as it would outside
    the harness; every other exception is recorded. Warnings are recorded too (and still
    shown). When the exception or a warning says a layer found no variables, the layers it names
    are described (see :func:`probe_layers`).
    """
    started = time.time()
    result = {"format": RESULT_FORMAT, "op": request["op"]}
    caught = _record_warnings()
    failure = None
    try:
        os.makedirs(request["workdir"], exist_ok=True)
        os.chdir(request["workdir"])
        module = _import_scenario(request["scenario"], request["scenario_id"])
        value = _call(module, request)
        result.update(_judge_value(request, value))
        result["outcome"] = "returned"
    except SystemExit as exc:
        _flush()
        os._exit(0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1)
    except ContractBroken as exc:
        result.update(outcome="contract", exception_type="ContractError", message=str(exc)[:_MAX_MESSAGE])
        result["traceback"] = ""
    except BaseException as exc:  # the boundary: everything a scenario raises is evidence
        failure = exc
        result.update(
            outcome="raised",
            exception_type=type(exc).__name__,
            exception_module=type(exc).__module__,
            message=_safe_str(exc)[:_MAX_MESSAGE],
            traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-_MAX_TRACEBACK:],
        )
    result["duration_s"] = round(time.time() - started, 4)
    result["warnings"] = caught[:50]
    texts = [result.get("message") or ""] + caught
    if any(_MISSING_VARIABLES.search(t) for t in texts):
        result["probe"] = probe_layers(texts, failure, request)
    _flush()
    _write_json_atomic(request["result"], result)


def _import_scenario(path, scenario_id):
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(scenario_id, path)
    if spec is None or spec.loader is None:
        raise ContractBroken("the scenario file %r cannot be imported" % path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[scenario_id] = module
    spec.loader.exec_module(module)
    return module


def _call(module, request):
    op = request["op"]
    function = getattr(module, op, None)
    if not callable(function):
        raise ContractBroken("the scenario defines no function %s(workdir)" % op)
    return function(request["workdir"])


def _judge_value(request, value):
    """Check the returned value against the contract and compare what must be compared."""
    op = request["op"]
    rtol, atol = float(request["rtol"]), float(request["atol"])
    if op == "run":
        if value is None:
            return {"returned_none": True, "comparison": None}
        if not isinstance(value, dict) or set(value) != {"expected", "actual"}:
            raise ContractBroken(
                "run() must return None or a mapping with exactly the keys 'expected' and 'actual', "
                "not %s" % _describe_type(value)
            )
        expected = _flatten(value["expected"], "")
        actual = _flatten(value["actual"], "")
        return {"returned_none": False, "comparison": _compare(expected, actual, rtol, atol)}
    if op == "save":
        if value is None:
            values = {}
        elif isinstance(value, dict):
            values = _flatten(value, "")
        else:
            raise ContractBroken("save() must return None or a mapping of reference values, not %s" % _describe_type(value))
        _store_values(request["values_out"], values)
        return {"returned_none": value is None, "comparison": None, "stored": len(values)}
    if op == "load":
        reference = _load_values(request["reference"])
        if value is None:
            if reference:
                raise ContractBroken("load() returned None but save() returned reference values")
            return {"returned_none": True, "comparison": None}
        if not isinstance(value, dict):
            raise ContractBroken("load() must return None or a mapping, not %s" % _describe_type(value))
        return {"returned_none": False, "comparison": _compare(reference, _flatten(value, ""), rtol, atol)}
    raise ContractBroken("unknown operation %r" % op)


# --------------------------------------------------------------------------- tools (inspect --against)

TOOL_OPS = ("layout", "verify")


def run_tool_request(request):
    """``layout``: build the model of ``target`` (``path.py:function`` or ``module:function``) and
    save its own weights to ``out`` (the layout it loads from). ``verify``: build it, load
    ``weights`` into it, and, with ``check`` (a function taking the model and returning
    ``{"expected": ..., "actual": ...}``), compare values. Writes a result file like a cell."""
    started = time.time()
    result = {"format": RESULT_FORMAT, "op": request["op"]}
    try:
        if request.get("cwd") and request["cwd"] not in sys.path:
            sys.path.insert(0, request["cwd"])
        os.makedirs(request["workdir"], exist_ok=True)
        os.chdir(request["workdir"])
        model = _load_function(request["target"])()
        if request["op"] == "layout":
            model.save_weights(request["out"])
            result.update(outcome="returned", comparison=None)
        else:
            model.load_weights(request["weights"])
            comparison = None
            if request.get("check"):
                value = _load_function(request["check"])(model)
                if not isinstance(value, dict) or set(value) != {"expected", "actual"}:
                    raise ContractBroken("the check function must return {'expected': ..., 'actual': ...}")
                comparison = _compare(_flatten(value["expected"], ""), _flatten(value["actual"], ""),
                                      float(request["rtol"]), float(request["atol"]))
            result.update(outcome="returned", comparison=comparison)
    except BaseException as exc:  # the boundary: reported, never raised
        result.update(
            outcome="raised",
            exception_type=type(exc).__name__,
            message=_safe_str(exc)[:_MAX_MESSAGE],
            traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-_MAX_TRACEBACK:],
        )
    result["duration_s"] = round(time.time() - started, 4)
    _flush()
    _write_json_atomic(request["result"], result)


def _load_function(spec):
    """``path/to/file.py:function`` or ``package.module:function``."""
    module_part, _, function = spec.rpartition(":")
    if module_part.endswith(".py") or os.sep in module_part:
        path = os.path.abspath(module_part)
        folder = os.path.dirname(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        name = os.path.splitext(os.path.basename(path))[0]
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_part)
    target = getattr(module, function, None)
    if not callable(target):
        raise ContractBroken("%s defines no function %s" % (module_part, function))
    return target


# --------------------------------------------------------------------------- probing a failed load

_MISSING_VARIABLES = re.compile(r"expected \d+ variables, but received \d+ variables")
_NAMED_LAYER = re.compile(r"Layer '([^']+)' expected \d+ variables")
_LISTED_OBJECT = re.compile(r"<\w+ name=([^,>\s]+)")
_WEIGHT_FILE = re.compile(r"\.(h5|hdf5|keras)$")


def _record_warnings():
    """Record every warning's text while still showing it as usual."""
    import warnings

    caught = []
    shown = warnings.showwarning

    def record(message, category, filename, lineno, file=None, line=None):
        caught.append("%s: %s" % (category.__name__, message))
        shown(message, category, filename, lineno, file, line)

    warnings.showwarning = record
    return caught


def probe_layers(texts, failure, request):
    """Describe the layers a failed load names: their variables, the model they belong to, and
    the layout that model writes itself (saved to a file next to the result, for the harness to
    line up with the file that was loaded). Never raises; Keras's loading is not touched."""
    probe = {"layers": [], "loaded_file": None, "own_file": None, "error": None}
    try:
        keras = sys.modules.get("keras")
        if keras is None:
            probe["error"] = "keras was not imported by the scenario"
            return probe
        names = []
        for text in texts:
            for name in _NAMED_LAYER.findall(text) + _LISTED_OBJECT.findall(text):
                if name not in names:
                    names.append(name)
        model, failing = _failing_objects(failure, keras)
        if model is None or not failing:
            model, failing = _models_with_layers(keras, names)
        for layer in failing:
            probe["layers"].append({
                "name": layer.name,
                "class": type(layer).__name__,
                "variables": [_variable_info(v) for v in getattr(layer, "weights", [])],
            })
        probe["loaded_file"] = _loaded_file(failure, request["workdir"])
        if model is not None:
            own = os.path.join(os.path.dirname(request["result"]), "probe-own-layout.weights.h5")
            model.save_weights(own)
            probe["own_file"] = own
    except Exception as exc:  # a probe is evidence, never a new failure
        probe["error"] = "%s: %s" % (type(exc).__name__, _safe_str(exc)[:500])
    return probe


def _failing_objects(failure, keras):
    """The model being loaded and the objects that failed, from the loader's own frames."""
    model, failing = None, []
    tb = failure.__traceback__ if failure is not None else None
    while tb is not None:
        frame_locals = tb.tb_frame.f_locals
        candidate = frame_locals.get("model")
        if model is None and isinstance(candidate, keras.Model):
            model = candidate
        errors = frame_locals.get("error_msgs")
        if isinstance(errors, dict):
            for value in errors.values():
                obj = value[0] if isinstance(value, tuple) and value else None
                if isinstance(obj, keras.layers.Layer) and obj not in failing:
                    failing.append(obj)
        tb = tb.tb_next
    return model, failing


def _models_with_layers(keras, names):
    """Without frames (a warning), find live models whose own layers carry these names."""
    import gc

    for obj in gc.get_objects():
        if isinstance(obj, keras.Model):
            layers = [layer for layer in getattr(obj, "layers", []) if layer.name in names]
            if layers:
                return obj, layers
    return None, []


def _variable_info(variable):
    path = getattr(variable, "path", None) or getattr(variable, "name", "")
    return {
        "name": str(path).rsplit("/", 1)[-1].split(":")[0],
        "path": str(path),
        "shape": [int(d) for d in variable.shape],
        "dtype": str(getattr(variable, "dtype", "")),
    }


def _loaded_file(failure, workdir):
    tb = failure.__traceback__ if failure is not None else None
    while tb is not None:
        for key in ("filepath", "path", "filename"):
            value = tb.tb_frame.f_locals.get(key)
            if isinstance(value, str) and _WEIGHT_FILE.search(value) and os.path.isfile(value):
                return os.path.abspath(value)
        tb = tb.tb_next
    found = sorted(
        os.path.join(root, name) for root, _, files in os.walk(workdir) for name in files if _WEIGHT_FILE.search(name)
    )
    return found[0] if len(found) == 1 else None


# --------------------------------------------------------------------------- values


def _numpy():
    try:
        import numpy

        return numpy
    except ImportError:
        return None


def _flatten(value, prefix):
    """Flatten nested mappings/lists into {path: leaf}; a leaf is a number or numeric array."""
    out = {}
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ContractBroken("mapping keys must be strings, found %r at %r" % (key, prefix or "/"))
            out.update(_flatten(value[key], prefix + "/" + key if prefix else key))
        return out
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            out.update(_flatten(item, "%s/%d" % (prefix, index) if prefix else str(index)))
        return out
    out[prefix or "/"] = _leaf(value, prefix)
    return out


def _leaf(value, path):
    if value is None or isinstance(value, (str, bytes)):
        raise ContractBroken("the value at %r is %s; return numbers or numeric arrays" % (path or "/", _describe_type(value)))
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    np = _numpy()
    if np is None:
        raise ContractBroken("the value at %r is %s and numpy is not installed" % (path or "/", _describe_type(value)))
    try:
        array = np.asarray(value)
    except Exception as exc:
        raise ContractBroken("the value at %r cannot become an array: %s" % (path or "/", exc)) from None
    if array.dtype.kind not in "biuf":
        raise ContractBroken("the value at %r has dtype %s; return numeric arrays" % (path or "/", array.dtype))
    return array


def _compare(expected, actual, rtol, atol):
    """Compare two flattened structures; the result says whether every leaf is close."""
    if set(expected) != set(actual):
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        raise ContractBroken(
            "the compared values differ in structure: missing %s, unexpected %s" % (missing[:5], extra[:5])
        )
    np = _numpy()
    max_diff = 0.0
    close = True
    count = 0
    mismatch = None
    for path in sorted(expected):
        a, b = expected[path], actual[path]
        if np is not None:
            a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
            if a.shape != b.shape:
                close = False
                mismatch = mismatch or "shape of %r: expected %s, got %s" % (path, a.shape, b.shape)
                continue
            count += int(a.size)
            leaf_close = bool(np.allclose(b, a, rtol=rtol, atol=atol, equal_nan=True))
            same = (np.isnan(a) & np.isnan(b)) | (a == b)  # equal infinities differ by nothing
            with np.errstate(invalid="ignore"):
                diff = np.where(same, 0.0, np.abs(a - b)) if a.size else np.zeros(0)
            leaf_max = float(np.nanmax(np.where(np.isnan(diff), np.inf, diff))) if diff.size else 0.0
        else:
            count += 1
            same = (math.isnan(a) and math.isnan(b)) or a == b
            leaf_max = 0.0 if same else abs(a - b)
            if math.isnan(leaf_max):
                leaf_max = math.inf
            leaf_close = same or leaf_max <= atol + rtol * abs(a)
        if not leaf_close:
            close = False
            mismatch = mismatch or "values of %r differ (max abs diff %s)" % (path, _fmt(leaf_max))
        max_diff = max(max_diff, leaf_max)
    return {
        "compared": True,
        "close": close,
        "max_abs_diff": max_diff if math.isfinite(max_diff) else None,
        "infinite_diff": not math.isfinite(max_diff),
        "count": count,
        "mismatch": mismatch,
    }


def _store_values(path, values):
    np = _numpy()
    index = {}
    arrays = {}
    for i, (key, leaf) in enumerate(sorted(values.items())):
        if isinstance(leaf, float):
            index[key] = {"number": leaf if math.isfinite(leaf) else repr(leaf)}
        else:
            name = "v%d" % i
            arrays[name] = leaf
            index[key] = {"array": name}
    if arrays:
        np.savez(path + ".npz", **arrays)
    _write_json_atomic(path + ".json", {"format": RESULT_FORMAT, "values": index})


def _load_values(path):
    try:
        with open(path + ".json") as handle:
            index = json.load(handle)["values"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ContractBroken("the reference values written by save() are missing or unreadable") from None
    values = {}
    archive = None
    for key, entry in index.items():
        if "number" in entry:
            number = entry["number"]
            values[key] = float(number)
        else:
            if archive is None:
                np = _numpy()
                if np is None:
                    raise ContractBroken("the reference values hold arrays and numpy is not installed")
                archive = np.load(path + ".npz", allow_pickle=False)
            values[key] = archive[entry["array"]]
    return values


# --------------------------------------------------------------------------- serving


def serve(reply_fd, preload):
    """Import ``preload`` once, then fork a child per request until stdin closes.

    When stdin closes while a child runs (the harness died) or SIGTERM arrives, the running
    child's process group is killed and the worker exits.
    """
    replies = os.fdopen(reply_fd, "w", buffering=1)
    signal.signal(signal.SIGTERM, _on_terminate)
    _become_subreaper()
    started = time.time()
    preload_errors = {}
    for module in preload:
        try:
            importlib.import_module(module)
        except BaseException as exc:  # recorded; each cell will meet the same error itself
            preload_errors[module] = "%s: %s" % (type(exc).__name__, _safe_str(exc)[:2000])
    _reply(replies, {"event": "ready", "pid": os.getpid(), "import_s": round(time.time() - started, 3),
                     "preload": list(preload), "preload_errors": preload_errors})
    requests = _Requests(0)
    while True:
        line = requests.next_line()
        if line is None:
            return
        if not line.strip():
            continue
        request = json.loads(line)
        _reply(replies, _fork_and_wait(request, replies.fileno(), requests))


class _Requests(object):
    """Lines from a file descriptor, read without Python's buffering so EOF can be polled."""

    def __init__(self, fd):
        self.fd = fd
        self.buffer = b""
        self.closed = False

    def next_line(self):
        while b"\n" not in self.buffer:
            if self.closed:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                self.closed = True
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode("utf-8")

    def wait_closed(self, timeout):
        """Wait up to ``timeout`` seconds; True when the other end has closed."""
        if self.closed:
            return True
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                self.closed = True
                return True
            self.buffer += chunk
        return False


_RUNNING_CHILD = [None]


def _on_terminate(signum, frame):
    if _RUNNING_CHILD[0] is not None:
        _kill_group(_RUNNING_CHILD[0])
    os._exit(1)


def _fork_and_wait(request, reply_fd, requests):
    _flush()
    started = time.time()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.setpgid(0, 0)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _die_with_parent()
            os.close(reply_fd)
            _redirect_output(request["output"])
            run_request(request)
        finally:
            _flush()
            os._exit(0)
    _RUNNING_CHILD[0] = pid
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    deadline = started + float(request["timeout"])
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.time() >= deadline:
                _kill_group(pid)
                os.waitpid(pid, 0)
                return {"status": "timed_out", "duration_s": round(time.time() - started, 3)}
            if requests.wait_closed(_POLL_S):
                _kill_group(pid)
                os.waitpid(pid, 0)
                os._exit(1)
    finally:
        _RUNNING_CHILD[0] = None
    _kill_group(pid)  # anything the scenario left running in the background
    _reap_orphans()  # and anything that left the group (a new session) and came back to us
    reply = {"duration_s": round(time.time() - started, 3), "exit_status": None, "signal": None}
    if os.WIFSIGNALED(status):
        reply.update(status="died", signal=os.WTERMSIG(status))
    elif os.WEXITSTATUS(status) != 0 or not os.path.exists(request["result"]):
        reply.update(status="died", exit_status=os.WEXITSTATUS(status))
    else:
        reply.update(status="done")
    return reply


def _become_subreaper():
    """Linux: orphaned descendants of a cell come back to this worker, so they can be killed."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def _reap_orphans():
    """Kill and reap every process whose parent is this worker (no cell is running now)."""
    me = str(os.getpid())
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and fields[1] == me:
            try:
                os.kill(int(entry), signal.SIGKILL)
                os.waitpid(int(entry), 0)
            except OSError:
                pass


def _die_with_parent():
    """Linux: have the kernel kill this process when its parent dies (best effort)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _redirect_output(path):
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass


# --------------------------------------------------------------------------- helpers


def _reply(stream, data):
    stream.write(json.dumps(data) + "\n")
    stream.flush()


def _write_json_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _safe_str(exc):
    try:
        return str(exc)
    except Exception:
        return "<the exception's message could not be turned into text>"


def _describe_type(value):
    return "None" if value is None else "a " + type(value).__name__


def _fmt(number):
    return "%.3g" % number if math.isfinite(number) else "inf"


def main(argv):
    if argv[:1] == ["--describe"]:
        sys.stdout.write(json.dumps(describe()))
        return 0
    if argv[:1] == ["--cell"] and len(argv) == 2:
        with open(argv[1]) as handle:
            request = json.load(handle)
        _die_with_parent()
        _redirect_output(request["output"])
        (run_tool_request if request["op"] in TOOL_OPS else run_request)(request)
        return 0
    if argv[:1] == ["--serve"]:
        reply_fd = int(argv[argv.index("--reply-fd") + 1])
        preload = []
        if "--preload" in argv:
            preload = [m for m in argv[argv.index("--preload") + 1].split(",") if m]
        serve(reply_fd, preload)
        return 0
    sys.stderr.write("usage: worker.py --describe | --serve --reply-fd N [--preload m1,m2] | --cell REQUEST.json\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
