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
    crash, hang or leaked state in one cell never reaches another; a request is started as soon
    as it arrives, also while others run, and each reply is sent when its own request ends,
    carrying its ``nonce``. The first reply is ``{"event": "ready", "protocol": PROTOCOL_VERSION, ...}``.
``worker.py --cell REQUEST.json``
    Run one request in this very process (isolation without fork; pays the import each time).

Requests (``op`` is ``run``, ``save`` or ``load``) name the scenario file, a private work
folder, where to write the result and the cell's output, the timeout, and the comparison
tolerances. The child writes a result file (what the scenario did: returned, raised, or broke
the contract at run time, plus the comparison of values); the serving parent replies with how
the child ended (``done``, ``died`` with exit status or signal, ``timed_out``). Deciding the
verdict is the harness's job, not this file's.

A request with a ``format`` (a scenario with ``FORMATS``) passes it as the second argument of
``save``/``load``; a save request with ``formats`` (a list of ``format``, ``workdir``,
``result``, ``values_out``) calls ``save(workdir, format)`` for each in turn in the same child,
each writing its own result file (see :func:`run_request`).
"""

from __future__ import annotations

import importlib
import importlib.util
import io
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
#: What the serving worker and the harness's client agree on; the ready reply carries it.
#: 2: requests are served while others run, each reply sent when its own request ends.
PROTOCOL_VERSION = 2
_POLL_S = 0.02
_MAX_MESSAGE = 20000
_MAX_TRACEBACK = 40000


# --------------------------------------------------------------------------- describe


def describe():
    """What this env is and holds, as plain data."""
    from importlib import metadata

    packages = {}
    modules = {}
    owners = {}
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
        for module in _owned_modules(dist):
            owners.setdefault(module, set()).add(canonical)
    return {
        "clashes": dict(sorted((m, sorted(d)) for m, d in owners.items() if len(d) > 1)),
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


def _owned_modules(dist):
    """The top-level modules a distribution installs the very file of (``mod/__init__.py`` or
    ``mod.py``): two distributions that both do overwrite each other, whatever the installer
    says. Namespace packages (no ``__init__.py``) are shared by design and not counted."""
    found = set()
    for file in dist.files or ():
        parts = file.parts
        if len(parts) == 2 and parts[1] == "__init__.py" and parts[0].isidentifier():
            found.add(parts[0])
        elif len(parts) == 1 and parts[0].endswith(".py") and parts[0][:-3].isidentifier():
            found.add(parts[0][:-3])
    return found


# --------------------------------------------------------------------------- one cell


# --------------------------------------------------------------------------- reads

#: Files this process opened for reading, and for writing (absolute paths), from the moment the
#: worker started: what the framework read at import (``~/.keras/keras.json``) counts for every
#: cell forked after it. See :func:`_watch_files` and :func:`_files_read`.
_READS = []
_WRITES = set()
#: The most paths a result lists; a cell that read more is reported as read in part (never cached).
_MAX_READS = 2000
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_NOT_FILES = ("/proc/", "/sys/", "/dev/")


def _on_audit(event, args):
    """The audit hook: note every file opened (builtins.open, os.open, io.open_code)."""
    if event != "open":
        return
    try:
        path, mode, flags = args
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            return
        path = os.path.abspath(path)
        if mode is None:
            writing = bool((flags or 0) & _WRITE_FLAGS)
        else:
            writing = any(c in mode for c in "wax+")
        if writing:
            _WRITES.add(path)
        elif len(_READS) < 50 * _MAX_READS:
            _READS.append(path)
        else:
            _WRITES.add("")  # the list is full: the reads are known in part only
    except Exception:
        pass


def _watch_files():
    """Install the audit hook (Python 3.8+); from then on every open of this process and of its
    forked children is noted."""
    if hasattr(sys, "addaudithook"):
        sys.addaudithook(_on_audit)


def _source_of(path):
    """A cached bytecode file (``__pycache__/name.cpython-311.pyc``) stands for its source file."""
    folder, name = os.path.split(path)
    if os.path.basename(folder) == "__pycache__" and name.endswith(".pyc"):
        return os.path.join(os.path.dirname(folder), name.split(".")[0] + ".py")
    return path


def _files_read(request):
    """The files this phase depends on: every file read by this process (and by the worker before
    it forked this child), less the env's own installation and the standard library, the cell's
    own files (its work folder, its result and output, the save's reference values), files the
    process also wrote, and what is not a file (``/proc``, ``/dev``); plus the source of every
    imported module outside the env. Returns ``(paths, complete)``; ``complete`` is False when
    the process read more than :data:`_MAX_READS` such files (or has no audit hooks)."""
    if not hasattr(sys, "addaudithook"):
        return [], False
    skip = set()
    for prefix in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix):
        skip.add(os.path.join(os.path.abspath(prefix), ""))
        skip.add(os.path.join(os.path.realpath(prefix), ""))
    own = [request.get(k) for k in ("result", "output", "values_out", "reference")]
    folders = [request.get("workdir")] + [os.path.dirname(p) for p in (request.get("reference"), request.get("values_out")) if p]
    for folder in folders:  # the cell's own work folder, and the save's (its files and reference values: the key's artifact)
        if folder:
            skip.add(os.path.join(os.path.abspath(folder), ""))
    skip.add(os.path.join(os.path.dirname(os.path.abspath(__file__)), ""))
    skip = tuple(skip) + _NOT_FILES
    own = set(os.path.abspath(p) for p in own if p)
    candidates = [_source_of(p) for p in _READS]
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if isinstance(name, str):
            candidates.append(os.path.abspath(name))
    found = set()
    for path in candidates:
        if path in found or path in own or path in _WRITES or path.startswith(skip):
            continue
        found.add(path)
    paths = sorted(found)
    return paths[:_MAX_READS], len(paths) <= _MAX_READS and "" not in _WRITES


class ContractBroken(Exception):
    """The scenario broke the contract at run time (bad return value, missing function)."""


def run_request(request):
    """Run one request in this process and write its result file. Returns nothing.

    A ``SystemExit`` raised by the scenario ends this process with its code, as it would outside
    the harness (its message is printed and recorded as the outcome ``exited``); every other
    exception is recorded. Values the harness cannot compare (too deep, too large) are the
    outcome ``uncomparable``, never the scenario's exception. Warnings are recorded too (and still
    shown). When the exception or a warning says a layer found no variables, the layers it names
    are described (see :func:`probe_layers`). With a ``signature`` in the request, the whole text
    of a raised exception is matched here (the result is written first with the match pending, so
    a match cut short by the time limit says so).

    With ``formats`` (one save phase of a scenario with ``FORMATS``), each entry is run as its own
    request in this same process, one after the other (the scenario module is imported once, so
    it may build its model once and keep it), whatever the one before it did.
    """
    if request.get("formats"):
        import warnings

        for target in request["formats"]:
            one = dict(request)
            del one["formats"]
            one.update(target)
            shown = warnings.showwarning
            try:
                run_request(one)
            finally:
                warnings.showwarning = shown
        return
    started = time.time()
    result = {"format": RESULT_FORMAT, "op": request["op"]}
    caught = _record_warnings()
    failure = None
    full_text = None
    try:
        os.makedirs(request["workdir"], exist_ok=True)
        os.chdir(request["workdir"])
        module = _import_scenario(request["scenario"], request["scenario_id"])
        value = _call(module, request)
        result.update(_judged(request, value))
        result["outcome"] = "returned"
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
        if not isinstance(exc.code, (int, type(None))):
            sys.stderr.write("%s\n" % (exc.code,))
        result.update(outcome="exited", exit_code=code, exception_type="SystemExit", message=_clip(_safe_str(exc.code)))
        result["duration_s"] = round(time.time() - started, 4)
        result["reads"], result["reads_complete"] = _files_read(request)
        _flush()
        _write_json_atomic(request["result"], result)
        os._exit(code)
    except ContractBroken as exc:
        result.update(outcome="contract", exception_type="ContractError", message=_clip(str(exc)), traceback="")
    except _Uncomparable as exc:
        result.update(outcome="uncomparable", exception_type=exc.kind, message=_clip(exc.detail), traceback="")
    except BaseException as exc:  # the boundary: everything a scenario raises is evidence
        failure = exc
        message = _safe_str(exc)
        full_text = "%s: %s" % (type(exc).__name__, message)
        result.update(
            outcome="raised",
            exception_type=type(exc).__name__,
            exception_module=type(exc).__module__,
            message=_clip(message),
            message_chars=len(message),
            traceback=_format_traceback(exc),
        )
    result["duration_s"] = round(time.time() - started, 4)
    result["warnings"] = caught[:50]
    texts = [result.get("message") or ""] + caught
    if any(_MISSING_VARIABLES.search(t) for t in texts):
        result["probe"] = probe_layers(texts, failure, request)
    result["reads"], result["reads_complete"] = _files_read(request)
    signature = request.get("signature")
    if full_text is not None and signature:
        result["signature_matched"] = None  # pending: written first, so a match cut short is known as such
        _flush()
        _write_json_atomic(request["result"], result)
        result["signature_matched"] = bool(re.search(signature, full_text))
    _flush()
    _write_json_atomic(request["result"], result)


class _Uncomparable(Exception):
    """The values a scenario returned could not be compared by the harness (not the scenario's error)."""

    def __init__(self, kind, detail):
        Exception.__init__(self, detail)
        self.kind = kind
        self.detail = detail


def _judged(request, value):
    """:func:`_judge_value`, with the harness's own failures on the returned values told apart."""
    try:
        return _judge_value(request, value)
    except ContractBroken:
        raise
    except (RecursionError, OverflowError, MemoryError, ValueError, TypeError) as exc:
        raise _Uncomparable(type(exc).__name__, "the returned values could not be compared: %s: %s"
                            % (type(exc).__name__, _safe_str(exc)[:500])) from None


def _clip(text, limit=_MAX_MESSAGE):
    """The head and the tail of a long text, with how much was cut between them."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return "%s\n[... %d characters cut ...]\n%s" % (text[:half], len(text) - 2 * half, text[-half:])


def _format_traceback(exc):
    """The traceback with every frame, each part clipped on its own, so a huge message never hides the frames."""
    try:
        parts = traceback.TracebackException(type(exc), exc, exc.__traceback__).format()
        text = "".join(_clip(part, 4000) for part in parts)
    except BaseException:
        text = "".join(traceback.format_tb(exc.__traceback__))
    return _clip(text, _MAX_TRACEBACK)


def _import_scenario(path, scenario_id):
    """Import the scenario file as the module ``scenario_id``. Its folder goes to the end of
    ``sys.path`` (its helpers are found, but it can shadow nothing), and an id that is the name of
    another importable module (the standard library's, the env's) is refused."""
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.append(folder)
    found = sys.modules.get(scenario_id)
    try:
        other = importlib.util.find_spec(scenario_id) if found is None else found.__spec__
    except (ImportError, ValueError, AttributeError):
        other = None
    origin = getattr(other, "origin", None) if other is not None else None
    if (found is not None or other is not None) and (origin is None or os.path.abspath(origin) != os.path.abspath(path)):
        raise ContractBroken("the scenario id %r is also the name of a module of this env (%s); rename the scenario file"
                             % (scenario_id, origin or "built in"))
    if found is not None:  # imported already by this process (the formats of one save phase)
        return found
    spec = importlib.util.spec_from_file_location(scenario_id, path)
    if spec is None or spec.loader is None:
        raise ContractBroken("the scenario file %r cannot be imported" % path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[scenario_id] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(scenario_id, None)
        raise
    return module


def _call(module, request):
    op = request["op"]
    function = getattr(module, op, None)
    if not callable(function):
        raise ContractBroken("the scenario defines no function %s(workdir)" % op)
    if request.get("format") is not None:
        return function(request["workdir"], request["format"])
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
        reference, legacy = _load_values(request["reference"])
        if value is None:
            if reference:
                raise ContractBroken("load() returned None but save() returned reference values")
            return {"returned_none": True, "comparison": None}
        if not isinstance(value, dict):
            raise ContractBroken("load() must return None or a mapping, not %s" % _describe_type(value))
        return {"returned_none": False, "comparison": _compare(reference, _flatten(value, "", legacy), rtol, atol)}
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
            message=_clip(_safe_str(exc)),
            traceback=_format_traceback(exc),
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


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _flatten(value, prefix, legacy=False):
    """Flatten nested mappings/lists into {path: leaf}; a leaf is a number or numeric array.

    Paths keep the structure: a mapping key is written as it is when it is a plain name, else
    quoted as a JSON string (``"a/b"``), and a list index as ``[0]``, so ``{"a/b": 1}`` and
    ``{"a": {"b": 1}}``, or ``[5]`` and ``{"0": 5}``, never share a path. ``legacy`` gives the
    paths of reference values stored in the first format (keys and indices joined by ``/``).
    """
    out = {}
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ContractBroken("mapping keys must be strings, found %r at %r" % (key, prefix or "/"))
            step = key if legacy or _PLAIN_KEY.match(key) else json.dumps(key)
            out.update(_flatten(value[key], prefix + "/" + step if prefix else step, legacy))
        return out
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            step = str(index) if legacy else "[%d]" % index
            out.update(_flatten(item, prefix + "/" + step if prefix else step, legacy))
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
    nan_count = 0  # values NaN on both sides: equal, but nothing was compared there
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
            nan_count += int(np.count_nonzero(np.isnan(a) & np.isnan(b)))
            leaf_close = bool(np.allclose(b, a, rtol=rtol, atol=atol, equal_nan=True))
            same = (np.isnan(a) & np.isnan(b)) | (a == b)  # equal infinities differ by nothing
            with np.errstate(invalid="ignore"):
                diff = np.where(same, 0.0, np.abs(a - b)) if a.size else np.zeros(0)
            leaf_max = float(np.nanmax(np.where(np.isnan(diff), np.inf, diff))) if diff.size else 0.0
        else:
            count += 1
            both_nan = math.isnan(a) and math.isnan(b)
            nan_count += int(both_nan)
            same = both_nan or a == b
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
        "nan_count": nan_count,
        "mismatch": mismatch,
    }


#: The format of reference files: 2 keeps the structure in the paths (see :func:`_flatten`).
_REFERENCE_FORMAT = 2


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
    _write_json_atomic(path + ".json", {"format": _REFERENCE_FORMAT, "values": index})


def _load_values(path):
    """The reference values ``save()`` returned, and whether they were stored in the first format."""
    try:
        with open(path + ".json") as handle:
            stored = json.load(handle)
        index = stored["values"]
        legacy = stored.get("format", 1) < _REFERENCE_FORMAT
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
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
    return values, legacy


# --------------------------------------------------------------------------- serving


def serve(reply_fd, preload):
    """Import ``preload`` once, then answer requests until stdin closes.

    Each request is forked into a child of its own as soon as its line arrives, also while other
    requests run (the harness decides how many are in flight); each reply is sent when its own
    request has ended and been cleaned up, and carries that request's ``nonce``. When stdin
    closes while children run (the harness died) or SIGTERM arrives, every running child's
    process group is killed and the worker exits.
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
    _reply(replies, {"event": "ready", "protocol": PROTOCOL_VERSION, "pid": os.getpid(),
                     "import_s": round(time.time() - started, 3), "preload": list(preload),
                     "preload_errors": preload_errors})
    requests = _Requests(0)
    running = []
    while True:
        for line in requests.lines():
            if not line.strip():
                continue
            request = json.loads(line)
            inherited = [replies.fileno()] + [fd for cell in running for fd in cell.own_fds()]
            running.append(_Cell(request, inherited))
        if requests.closed:
            if running:  # the harness is gone: nothing will read the replies
                for cell in running:
                    cell.kill()
                os._exit(1)
            _reap_orphans(())
            return
        _watch(running, requests)
        now = time.time()
        for cell in list(running):
            cell.poll(now, [other.pid for other in running if other is not cell and other.status is None])
            if cell.ended(now):
                running.remove(cell)
                reply = cell.finish()
                reply["nonce"] = cell.request.get("nonce")
                _reply(replies, reply)


def run_cell(request_path):
    """Spawn isolation: one request in this fresh interpreter, run in a forked child exactly as
    :func:`serve` runs each request (same limits, output handling and cleanup); returns the reply."""
    with open(request_path) as handle:
        request = json.load(handle)
    _die_with_parent()
    _become_subreaper()
    signal.signal(signal.SIGTERM, _on_terminate)
    cell = _Cell(request, [])
    while not cell.ended(time.time()):
        _watch([cell], None)
        cell.poll(time.time(), [])
    reply = cell.finish()
    reply["nonce"] = request.get("nonce")
    return reply


class _Requests(object):
    """Lines from a file descriptor, read without Python's buffering so EOF can be polled."""

    def __init__(self, fd):
        self.fd = fd
        self.buffer = b""
        self.closed = False

    def lines(self):
        """The complete lines read so far (each once)."""
        found = []
        while b"\n" in self.buffer:
            line, _, self.buffer = self.buffer.partition(b"\n")
            found.append(line.decode("utf-8"))
        return found

    def take(self):
        """Read what is ready (select said so); True when the other end has closed."""
        chunk = os.read(self.fd, 65536)
        if not chunk:
            self.closed = True
        self.buffer += chunk
        return self.closed


class _Output(object):
    """A cell's output, written to its file as it comes, up to ``cap`` bytes: the head is written
    at once, the tail kept in memory and written at the end after a line saying what was cut."""

    def __init__(self, path, cap):
        self.handle = open(path, "wb", buffering=0)
        self.head_left = max(0, cap // 2)
        self.tail_cap = max(0, cap - cap // 2)
        self.tail = []
        self.tail_size = 0
        self.cut = 0

    def feed(self, data):
        if self.head_left:
            head = data[:self.head_left]
            self.handle.write(head)
            self.head_left -= len(head)
            data = data[len(head):]
        if not data:
            return
        self.tail.append(data)
        self.tail_size += len(data)
        while self.tail_size > self.tail_cap and self.tail:
            extra = self.tail_size - self.tail_cap
            first = self.tail[0]
            if len(first) <= extra:
                self.tail.pop(0)
                self.tail_size -= len(first)
                self.cut += len(first)
            else:
                self.tail[0] = first[extra:]
                self.tail_size -= extra
                self.cut += extra

    def close(self):
        if self.cut:
            self.handle.write(("\n[... %d bytes of output cut here: the cell's output is capped ...]\n" % self.cut).encode())
        for chunk in self.tail:
            self.handle.write(chunk)
        self.handle.close()


_RUNNING_CHILDREN = set()
_MAX_OUTPUT = 64 * 1024 * 1024
_DRAIN_S = 2.0
#: Set in each cell's child (and so inherited by what it starts): which cell a stray process is from.
_CELL_MARK = "HARNESS_WORKER_CELL"


def _on_terminate(signum, frame):
    for pid in list(_RUNNING_CHILDREN):
        _kill_group(pid)
    os._exit(1)


class _Cell(object):
    """One request in flight: a forked child runs it, its output is relayed into its output file
    (capped) as it comes, and it is killed at its time limit. Once the child has ended, its
    process group and the stray processes it left are killed, what is left in its pipe is read
    (for at most ``_DRAIN_S``: a straggler holding the pipe open cannot keep the cell waiting),
    and :meth:`finish` says how it ended. ``inherited``: descriptors the child must not keep
    (the reply channel, the other cells' pipes and output files)."""

    def __init__(self, request, inherited):
        _flush()
        out_read, out_write = os.pipe()
        self.request = request
        self.started = time.time()
        pid = os.fork()
        if pid == 0:  # the child
            try:
                os.setpgid(0, 0)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                _die_with_parent()
                os.environ[_CELL_MARK] = str(os.getpid())
                for fd in list(inherited) + [out_read]:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                _redirect_output(out_write)
                (run_tool_request if request["op"] in TOOL_OPS else run_request)(request)
            finally:
                _flush()
                os._exit(0)
        os.close(out_write)
        self.pid = pid
        _RUNNING_CHILDREN.add(pid)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        self.out_read = out_read
        self.output = _Output(request["output"], int(request.get("max_output") or _MAX_OUTPUT))
        self.deadline = self.started + float(request["timeout"])
        self.status = None  # the child's wait status, once it has ended
        self.timed_out = False
        self.drain_until = None

    def own_fds(self):
        """The descriptors this cell holds open in the worker."""
        fds = [self.output.handle.fileno()]
        if self.out_read is not None:
            fds.append(self.out_read)
        return fds

    def read_output(self):
        """Relay what the child wrote (select said it is ready); its end closes the pipe."""
        data = os.read(self.out_read, 1 << 16)
        if data:
            self.output.feed(data)
        else:
            os.close(self.out_read)
            self.out_read = None

    def poll(self, now, others):
        """Notice the child's end, or kill it at its limit; then clean up after it. ``others``:
        the children of the other cells still running, never taken for this cell's strays."""
        if self.status is not None or self.timed_out:
            return
        done, status = os.waitpid(self.pid, os.WNOHANG)
        if done:
            self.status = status
        elif now >= self.deadline:
            _kill_group(self.pid)
            os.waitpid(self.pid, 0)
            self.timed_out = True
        else:
            return
        _RUNNING_CHILDREN.discard(self.pid)
        _kill_group(self.pid)  # anything the scenario left running in the background
        # and what left the group (a new session) and came back to us: this cell's own, or, when
        # no other cell runs, every one (a stray that dropped the cell's mark included)
        _reap_orphans(others, None if not others else str(self.pid))
        self.drain_until = time.time() + _DRAIN_S

    def ended(self, now):
        """The child has ended and its output has been read to the end (or for long enough)."""
        if self.status is None and not self.timed_out:
            return False
        return self.out_read is None or now >= self.drain_until

    def kill(self):
        _kill_group(self.pid)
        try:
            os.waitpid(self.pid, 0)
        except OSError:
            pass

    def finish(self):
        """Close the output file; how the child ended, as the reply's fields."""
        if self.out_read is not None:
            os.close(self.out_read)
            self.out_read = None
        self.output.close()
        duration = round(time.time() - self.started, 3)
        if self.timed_out:
            return {"status": "timed_out", "duration_s": duration}
        status = self.status
        reply = {"duration_s": duration, "exit_status": None, "signal": None}
        if os.WIFSIGNALED(status):
            reply.update(status="died", signal=os.WTERMSIG(status))
        elif os.WEXITSTATUS(status) != 0 or not os.path.exists(self.request["result"]):
            reply.update(status="died", exit_status=os.WEXITSTATUS(status))
        else:
            reply.update(status="done")
        return reply


def _watch(cells, requests):
    """Wait (at most ``_POLL_S`` while cells run; until a request comes when none does) for the
    cells' output or the next request, and read what is ready."""
    by_fd = dict((cell.out_read, cell) for cell in cells if cell.out_read is not None)
    watched = list(by_fd)
    if requests is not None and not requests.closed:
        watched.append(requests.fd)
    timeout = _POLL_S if cells else None
    if not watched:
        time.sleep(_POLL_S)
        return
    ready = select.select(watched, [], [], timeout)[0]
    for fd in ready:
        if fd in by_fd:
            by_fd[fd].read_output()
        else:
            requests.take()


def _become_subreaper():
    """Linux: orphaned descendants of a cell come back to this worker, so they can be killed."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def _reap_orphans(spare, mark=None):
    """Kill and reap the processes whose parent is this worker, again until none is left (what a
    killed orphan had started comes back to us in turn). ``spare``: the running cells' own
    children, never killed; ``mark``: only the strays that carry this cell mark (see
    ``_CELL_MARK``), else every one."""
    for _ in range(50):
        if not _reap_orphans_once(set(str(pid) for pid in spare), mark):
            return


def _reap_orphans_once(spare, mark):
    me = str(os.getpid())
    try:
        entries = os.listdir("/proc")
    except OSError:
        return False
    wanted = None if mark is None else ("%s=%s" % (_CELL_MARK, mark)).encode()
    found = False
    for entry in entries:
        if not entry.isdigit() or entry in spare:
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and fields[1] == me:
            if wanted is not None and wanted not in _environ(entry):
                continue
            found = True
            try:
                os.kill(int(entry), signal.SIGKILL)
                os.waitpid(int(entry), 0)
            except OSError:
                pass
    return found


def _environ(pid):
    """A process's environment as it started, one ``NAME=value`` per item (empty when unreadable)."""
    try:
        with open("/proc/%s/environ" % pid, "rb") as handle:
            return handle.read().split(b"\0")
    except OSError:
        return []


def _die_with_parent():
    """Linux: have the kernel kill this process when its parent dies (best effort)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _redirect_output(fd):
    """Make ``fd`` the child's stdout and stderr, unbuffered and write-through (so nothing printed
    is lost to a crash, ``os._exit`` or a kill), with faulthandler writing a crash's Python stack there."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    if fd not in (1, 2):
        os.close(fd)
    try:
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
                                      write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
                                      write_through=True)
    except Exception:
        pass
    try:
        import faulthandler

        faulthandler.enable(file=sys.stderr, all_threads=True)
    except Exception:
        pass


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
    if argv[:1] in (["--cell"], ["--serve"]):
        _watch_files()
    if argv[:1] == ["--describe"]:
        sys.stdout.write(json.dumps(describe()))
        return 0
    if argv[:1] == ["--cell"] and len(argv) == 2:
        reply = run_cell(argv[1])
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
        os._exit(0)
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
