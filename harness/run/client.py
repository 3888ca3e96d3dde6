"""The worker client: the host's handle on ``worker.py`` running inside a tested env.

In ``fork`` isolation (the default) the worker imports the framework once and forks a child per
phase; in ``spawn`` isolation every phase is a fresh interpreter. Either way a phase ends as a
:class:`~harness.evidence.phase.PhaseOutcome`: facts only, never a verdict.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from harness.envs.install import Env
from harness.errors import ResultsError, WorkerError
from harness.evidence.phase import CONTRACT, EXITED, RAISED, RETURNED, UNCOMPARABLE, PhaseFacts, PhaseOutcome, read_phase_facts
from harness.paths import WORKER_SCRIPT
from harness.run.options import ISOLATIONS

READY_TIMEOUT_S = 900.0
REPLY_GRACE_S = 60.0
TEARDOWN_WAIT_S = 10.0  # how long a stop waits for the running phase to notice its worker is gone
OUTPUT_TAIL_BYTES = 16 * 1024
OUTPUT_TAIL_LINES = 80


class Worker:
    """A worker process inside one env, for one backend.

    ``start`` imports the framework (fork isolation); ``run_phase`` runs one phase and never
    raises for anything the scenario does. If the worker itself dies or stops answering it is
    killed and restarted for the next phase. ``start`` and ``run_phase`` hold the worker's
    phase lock; only its holder touches the reply pipe. ``terminate`` may be called from another
    thread while a phase runs (a stop): it kills the process at once, which ends the phase as
    ``worker_lost``, then takes the lock to release what is left.
    """

    def __init__(self, env: Env, backend: str, preload: list[str], log_path: Path, isolation: str = "fork"):
        if isolation not in ISOLATIONS:
            raise ValueError(isolation)
        self.env = env
        self.backend = backend
        self.preload = preload
        self.log_path = log_path
        self.isolation = isolation
        self.import_s: float | None = None
        self.preload_errors: dict[str, str] = {}
        self.start_error: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._reply_fd: int | None = None
        self._buffer = b""
        self._phase = threading.Lock()
        self._spawned: subprocess.Popen[bytes] | None = None  # the running phase's process (spawn isolation)

    def environ(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KERAS_BACKEND"] = self.backend
        env.pop("VIRTUAL_ENV", None)
        return env

    def start(self) -> None:
        """Start the serving process and wait until its imports are done (fork isolation only)."""
        with self._phase:
            self._start()

    def _start(self) -> None:
        if self.isolation != "fork" or self._proc is not None:
            return
        read_fd, write_fd = os.pipe()
        log = open(self.log_path, "ab")
        try:
            self._proc = subprocess.Popen(
                [str(self.env.python_path), "-I", str(WORKER_SCRIPT), "--serve", "--reply-fd", str(write_fd),
                 "--preload", ",".join(self.preload)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                pass_fds=(write_fd,),
                env=self.environ(),
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
            log.close()
        self._reply_fd = read_fd
        self._buffer = b""
        ready = self._read_reply(READY_TIMEOUT_S)
        if ready is None or ready.get("event") != "ready":
            self._abandon()
            self.start_error = f"it did not start: importing {', '.join(self.preload) or 'nothing'} ended it; see {self.log_path}"
            raise WorkerError(f"The worker in env {self.env.key} did not start; see {self.log_path}.")
        self.import_s = float(ready.get("import_s", 0.0))
        self.preload_errors = dict(ready.get("preload_errors") or {})

    def run_phase(self, request: dict[str, Any], timeout: float) -> PhaseOutcome:
        """Run one phase; its result file and output file are named in ``request``.

        Every request carries a fresh nonce; a reply that does not carry it is not this phase's,
        so the worker is taken as lost (and started again for the next phase).
        """
        request = {**request, "timeout": timeout, "nonce": uuid.uuid4().hex}
        reply, started_wall, duration = self._exchange(request, timeout)
        return _outcome(request["op"], reply, str(reply.get("status")), Path(request["result"]),
                        Path(request["output"]), started_wall, duration)

    def run_phases(self, request: dict[str, Any], timeout: float) -> list[PhaseOutcome]:
        """Run one save phase of a scenario with ``FORMATS``: ``request["formats"]`` names each
        format's own result file; returns one outcome per format, in that order (all with the
        phase's one output file).

        A format whose result file is final (its save returned, raised or broke the contract, and
        any SIGNATURE match finished) is ``done`` even when the phase ended otherwise after it (a
        later format crashed or ran out of time); the others end as the phase did.
        """
        request = {**request, "timeout": timeout, "nonce": uuid.uuid4().hex}
        reply, started_wall, duration = self._exchange(request, timeout)
        outcomes = []
        for target in request["formats"]:
            path = Path(target["result"])
            status = str(reply.get("status"))
            if status in ("died", "timed_out") and _final_result(path, bool(request.get("signature"))):
                status = "done"
            outcomes.append(_outcome(request["op"], reply, status, path, Path(request["output"]), started_wall, duration))
        return outcomes

    def _exchange(self, request: dict[str, Any], timeout: float) -> tuple[dict[str, Any], str, float]:
        """Send one request and wait for its reply: the reply, when it started, how long it took."""
        started_wall = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        started = time.monotonic()
        with self._phase:
            if self.isolation == "spawn":
                reply = self._run_spawned(request, timeout)
            else:
                reply = self._run_forked(request, timeout)
        return reply, started_wall, float(reply.get("duration_s", time.monotonic() - started))

    def close(self) -> None:
        """Let the worker end on its own (stdin closed), killing it after 5 s."""
        with self._phase:
            if self._proc is not None:
                try:
                    if self._proc.stdin:
                        self._proc.stdin.close()
                    self._proc.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    _kill_group(self._proc.pid)
                    self._proc.wait()
                self._proc = None
            self._close_reply_fd()

    def terminate(self) -> None:
        """Stop at once, from any thread: the worker kills its running child, then the worker's
        whole process group is killed; what is left is released once the running phase ends."""
        for proc in (self._proc, self._spawned):
            if proc is not None:
                _stop_process(proc)
        if self._phase.acquire(timeout=TEARDOWN_WAIT_S):
            try:
                self._abandon()
            finally:
                self._phase.release()

    def _run_forked(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self.start_error is not None:  # a framework import that kills the worker is not retried per cell
            return {"status": "worker_lost", "detail": self.start_error, "duration_s": 0.0}
        if self._proc is None:
            try:
                self._start()
            except WorkerError:
                return {"status": "worker_lost", "detail": self.start_error, "duration_s": 0.0}
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write((json.dumps(request) + "\n").encode())
            self._proc.stdin.flush()
        except OSError:
            self._abandon()
            return {"status": "worker_lost"}
        started = time.monotonic()
        deadline = started + timeout + REPLY_GRACE_S
        reply = self._read_reply(timeout + REPLY_GRACE_S)
        if reply is None:
            # Only a worker that stayed silent until the deadline timed out; one whose reply pipe
            # ended (or that sent garbage) is lost, however quickly the kernel reaps it.
            silent = time.monotonic() >= deadline
            self._abandon()
            return {"status": "timed_out" if silent else "worker_lost", "duration_s": time.monotonic() - started}
        if reply.get("nonce") != request["nonce"]:
            self._abandon()
            return {"status": "worker_lost", "duration_s": time.monotonic() - started,
                    "detail": "its reply did not answer this request (something else wrote on the reply channel)"}
        return reply

    def _run_spawned(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """A fresh interpreter runs the phase the way a serving worker does (a forked child, the same
        limits and cleanup) and prints its reply; the host waits for it a little past the limit."""
        request_path = Path(request["result"]).with_suffix(".request.json")
        request_path.write_text(json.dumps(request))
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(
                [str(self.env.python_path), "-I", str(WORKER_SCRIPT), "--cell", str(request_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env=self.environ(),
                start_new_session=True,
            )
        self._spawned = proc
        try:
            out, _ = proc.communicate(timeout=timeout + REPLY_GRACE_S)
        except subprocess.TimeoutExpired:
            _stop_process(proc)
            return {"status": "timed_out", "duration_s": time.monotonic() - started}
        finally:
            self._spawned = None
        _kill_group(proc.pid)
        duration = time.monotonic() - started
        lines = out.decode("utf-8", "replace").strip().splitlines()
        try:
            reply = json.loads(lines[-1]) if lines else None
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or reply.get("nonce") != request["nonce"]:
            code = proc.returncode
            if code is not None and code < 0:
                return {"status": "died", "signal": -code, "duration_s": duration}
            return {"status": "worker_lost", "duration_s": duration, "detail": f"the spawned worker exited with status {code}"}
        return reply

    def _read_reply(self, timeout: float) -> dict[str, Any] | None:
        """The worker's next reply line; None when it ends or stops answering (phase lock held)."""
        assert self._reply_fd is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._reply_fd], [], [], min(remaining, 1.0))
            if not ready:
                if self._proc is not None and self._proc.poll() is not None:
                    return None
                continue
            chunk = os.read(self._reply_fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            data = json.loads(line)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _abandon(self) -> None:
        if self._proc is not None:
            _kill_group(self._proc.pid)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            if self._proc.stdin is not None:
                try:
                    self._proc.stdin.close()
                except OSError:  # a broken pipe: the worker is gone, which is the point
                    pass
            self._proc = None
        self._close_reply_fd()

    def _close_reply_fd(self) -> None:
        if self._reply_fd is not None:
            os.close(self._reply_fd)
            self._reply_fd = None


def _outcome(
    op: str, reply: dict[str, Any], status: str, result: Path, output: Path, started_wall: str, duration: float,
) -> PhaseOutcome:
    """A phase's outcome from the worker's reply (``status``: how the phase ended) and its result file."""
    facts, detail = _phase_facts(result, status)
    exit_status = reply.get("exit_status")
    if facts is not None and facts.outcome == EXITED:  # sys.exit() in the scenario: the process ended
        status, exit_status = "died", facts.exit_code
        detail = f"SystemExit: {facts.message}" if facts.message not in (None, "None", str(facts.exit_code)) else ""
        facts = None
    elif status == "done" and facts is None:
        status, exit_status = "died", 0
    return PhaseOutcome(
        op=op,
        status=status,
        detail=detail or str(reply.get("detail") or ""),
        duration_s=round(duration, 3),
        facts=facts,
        exit_status=exit_status,
        signal=reply.get("signal"),
        output_tail=read_tail(output),
        started=started_wall,
    )


def _final_result(path: Path, signature: bool) -> bool:
    """The result file holds what the scenario did, to the end (a SIGNATURE match finished)."""
    try:
        facts = read_phase_facts(path)
    except ResultsError:
        return False
    if facts.outcome not in (RETURNED, RAISED, CONTRACT, UNCOMPARABLE):
        return False
    return not (signature and facts.outcome == RAISED and facts.signature_matched is None)


def read_tail(path: Path) -> str:
    """The last lines of a cell's output (bytes decoded leniently)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - OUTPUT_TAIL_BYTES))
            data = handle.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", errors="replace").splitlines()
    return "\n".join(lines[-OUTPUT_TAIL_LINES:])


def _phase_facts(path: Path, status: str) -> tuple[PhaseFacts | None, str]:
    """The phase's result file, when the phase left one: always for ``done``; for a phase that
    died or timed out, what it wrote before (a ``sys.exit``, a signature match cut short); none
    for a lost worker, whose phase's ending is unknown."""
    if status == "worker_lost" or (status != "done" and not path.is_file()):
        return None, ""
    try:
        return read_phase_facts(path), ""
    except ResultsError as exc:
        if status != "done":
            return None, ""
        reason = str(exc).replace(repr(str(path)), "").replace("  ", " ").rstrip(".")
        return None, f"its result file could not be read ({reason})"


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Stop a worker process: it kills its running child first (SIGTERM), then its group goes."""
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        pass
    _kill_group(proc.pid)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass
