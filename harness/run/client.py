"""The worker client: the host's handle on ``worker.py`` running inside a tested env.

In ``fork`` isolation (the default) the worker imports the framework once and forks a child per
phase, several at once when several threads run phases; in ``spawn`` isolation every phase is a
fresh interpreter. Either way a phase ends as a
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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from harness.envs.install import Env, env_variables
from harness.errors import ResultsError, WorkerError
from harness.evidence.phase import CONTRACT, EXITED, RAISED, RETURNED, UNCOMPARABLE, PhaseFacts, PhaseOutcome, read_phase_facts
from harness.paths import WORKER_SCRIPT
from harness.run.options import ISOLATIONS

READY_TIMEOUT_S = 900.0
REPLY_GRACE_S = 60.0
TEARDOWN_WAIT_S = 10.0  # how long a stop waits for the running phases to notice their worker is gone
OUTPUT_TAIL_BYTES = 16 * 1024
OUTPUT_TAIL_LINES = 80
#: The protocol the client speaks; ``worker.py``'s ``PROTOCOL_VERSION`` must be the same (its
#: ready reply says which it speaks; a worker of another version does not start).
PROTOCOL_VERSION = 2
#: How many times a phase is run again when its worker was stopped for another phase's sake.
RETRIES = 2
_RETRY = "retry"  # a reply's status inside this module only: run the phase again


class Worker:
    """A worker process inside one env, for one backend.

    ``start`` imports the framework (fork isolation); ``run_phase`` runs one phase and never
    raises for anything the scenario does. It may be called from several threads at once: each
    phase is a request in flight in the one worker process (fork isolation; in spawn isolation,
    a fresh process each), and its reply reaches its caller by the request's nonce. If the worker
    dies or stops answering it is killed and started again for the next phase; what that does to
    the phases in flight (see :class:`_Session`): with one in flight, it is ``worker_lost`` (a
    death, a stray reply) or ``timed_out`` (no reply by its deadline); with several, any of them
    may have done it, so each is run again alone in a new worker (up to ``RETRIES`` times), and
    only the one that does it again, alone, is blamed. ``terminate`` may be called from another thread while
    phases run (a stop): it kills the processes at once, which ends every phase as
    ``worker_lost``.
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
        #: Set by :meth:`terminate`: no phase of this worker starts a process from then on.
        self.stopped = False
        self._session: _Session | None = None
        self._starting = threading.Lock()  # one start at a time; the others wait for it
        self._state = threading.Lock()  # guards _session and _spawned
        self._spawned: set[subprocess.Popen[bytes]] = set()  # the running phases' processes (spawn isolation)
        self._gate = threading.Condition()  # admits phases: many at once, or one alone (see _admitted)
        self._in_flight = 0
        self._alone = False
        self._waiting_alone = 0

    def environ(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KERAS_BACKEND"] = self.backend
        env.update(env_variables(self.env))
        env.pop("VIRTUAL_ENV", None)
        return env

    def start(self) -> None:
        """Start the serving process and wait until its imports are done (fork isolation only)."""
        with self._starting:
            self._start()

    def _start(self) -> _Session | None:
        """The serving process, started when there is none alive (``_starting`` held)."""
        if self.isolation != "fork":
            return None
        with self._state:
            if self._session is not None and self._session.ended is None:
                return self._session
        read_fd, write_fd = os.pipe()
        log = open(self.log_path, "ab")
        try:
            proc = subprocess.Popen(
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
        session = _Session(proc, read_fd)
        with self._state:
            self._session = session
        ready = session.read_ready(READY_TIMEOUT_S)
        problem = None
        if ready is None or ready.get("event") != "ready":
            problem = f"it did not start: importing {', '.join(self.preload) or 'nothing'} ended it; see {self.log_path}"
        elif ready.get("protocol") != PROTOCOL_VERSION:
            problem = (f"it did not start: its worker script speaks protocol {ready.get('protocol')!r}, "
                       f"the harness protocol {PROTOCOL_VERSION} ({WORKER_SCRIPT} is of another version)")
        if problem is not None:
            session.end("died")
            session.close_channel()
            self.start_error = problem
            raise WorkerError(f"The worker in env {self.env.key} did not start; see {self.log_path}.")
        assert ready is not None
        self.import_s = float(ready.get("import_s", 0.0))
        self.preload_errors = dict(ready.get("preload_errors") or {})
        session.start_reader()
        return session

    def run_phase(self, request: dict[str, Any], timeout: float) -> PhaseOutcome:
        """Run one phase; its result file and output file are named in ``request``.

        Every request carries a fresh nonce; a reply that does not carry the nonce of a request in
        flight is not a reply, so the worker is taken as lost. A phase run again (see the class)
        starts with its result and output files removed; its work folder is as the cut-short
        attempt left it. A phase run again after a reply that answered nothing runs alone in its
        worker, so that a scenario writing such replies ends only its own phase.
        """
        request = {**request, "timeout": timeout}
        reply, started_wall, duration = self._exchange(request, timeout)
        return _outcome(request["op"], reply, str(reply.get("status")), Path(request["result"]),
                        Path(request["output"]), started_wall, duration, timeout)

    def run_phases(self, request: dict[str, Any], timeout: float) -> list[PhaseOutcome]:
        """Run one save phase of a scenario with ``FORMATS``: ``request["formats"]`` names each
        format's own result file; returns one outcome per format, in that order (all with the
        phase's one output file).

        A format whose result file is final (its save returned, raised or broke the contract, and
        any SIGNATURE match finished) is ``done`` even when the phase ended otherwise after it (a
        later format crashed or ran out of time); the others end as the phase did.
        """
        request = {**request, "timeout": timeout}
        reply, started_wall, duration = self._exchange(request, timeout)
        outcomes = []
        for target in request["formats"]:
            path = Path(target["result"])
            status = str(reply.get("status"))
            if status in ("died", "timed_out") and _final_result(path, bool(request.get("signature"))):
                status = "done"
            outcomes.append(_outcome(request["op"], reply, status, path, Path(request["output"]), started_wall, duration,
                                     timeout))
        return outcomes

    def _exchange(self, request: dict[str, Any], timeout: float) -> tuple[dict[str, Any], str, float]:
        """Send one request and wait for its reply: the reply, when it started, how long it took.
        Each attempt carries a fresh nonce; an attempt run again (see the class) starts with the
        request's result and output files removed."""
        started_wall = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        started = time.monotonic()
        alone = False
        for _attempt in range(RETRIES + 1):
            if self.stopped:  # a stop began: nothing new starts, in this worker or a new one
                reply: dict[str, Any] = {"status": "worker_lost", "detail": "the run was stopped", "duration_s": 0.0}
                break
            sent = {**request, "nonce": uuid.uuid4().hex}
            with self._admitted(alone):
                if self.stopped:  # the stop came while this phase waited for its turn
                    reply = {"status": "worker_lost", "detail": "the run was stopped", "duration_s": 0.0}
                    break
                reply = self._run_spawned(sent, timeout) if self.isolation == "spawn" else self._run_forked(sent, timeout)
            if reply.get("status") != _RETRY:
                break
            alone = alone or bool(reply.get("alone"))
            _remove(Path(request["result"]), Path(request["output"]),
                    *(Path(target["result"]) for target in request.get("formats") or ()))
        else:
            reply = {"status": "worker_lost", "detail": f"{reply.get('detail')}, {RETRIES + 1} times"}
        return reply, started_wall, float(reply.get("duration_s", time.monotonic() - started))

    @contextmanager
    def _admitted(self, alone: bool) -> Iterator[None]:
        """Hold a place among the phases in flight; ``alone``: wait until none other is, and keep
        the others out until this one ends."""
        with self._gate:
            if alone:
                self._waiting_alone += 1
                while self._alone or self._in_flight:
                    self._gate.wait()
                self._waiting_alone -= 1
            else:  # a phase that must run alone goes first: new phases wait behind it
                while self._alone or self._waiting_alone:
                    self._gate.wait()
            self._alone = alone
            self._in_flight += 1
        try:
            yield
        finally:
            with self._gate:
                self._in_flight -= 1
                if alone:
                    self._alone = False
                self._gate.notify_all()

    def close(self) -> None:
        """Let the worker end on its own (stdin closed), killing it after 5 s."""
        with self._state:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    def terminate(self) -> None:
        """Stop at once, from any thread: the worker kills its running children, then the worker's
        whole process group is killed, which ends every phase in flight as ``worker_lost``; no
        later phase starts a process."""
        self.stopped = True
        with self._state:
            session, spawned = self._session, list(self._spawned)
        for proc in ([session.proc] if session is not None else []) + spawned:
            _stop_process(proc)
        if session is not None:
            session.end("died")
            session.join_reader()  # a start in progress releases its channel itself

    def _run_forked(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self.start_error is not None:  # a framework import that kills the worker is not retried per cell
            return {"status": "worker_lost", "detail": self.start_error, "duration_s": 0.0}
        with self._starting:
            try:
                session = self._start()
            except WorkerError:
                return {"status": "worker_lost", "detail": self.start_error, "duration_s": 0.0}
        assert session is not None
        started = time.monotonic()
        waiter = session.submit(request)
        if not waiter.done.wait(timeout + REPLY_GRACE_S):
            expired = session.expire(waiter)
            # Only a phase whose worker stayed silent until the deadline timed out; one whose
            # worker ended (or sent garbage) is lost, however quickly the kernel reaps it. With
            # other phases in flight, any of them may have stopped the worker: each runs again
            # alone, and only the one that silences its worker alone times out.
            if expired == 1:
                return {"status": "timed_out", "duration_s": time.monotonic() - started}
            if expired > 1:
                return {"status": _RETRY, "alone": True,
                        "detail": f"its worker stopped answering with {expired} phases in flight"}
        waiter.done.wait()
        assert waiter.reply is not None
        return waiter.reply

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
        with self._state:
            self._spawned.add(proc)
        try:
            out, _ = proc.communicate(timeout=timeout + REPLY_GRACE_S)
        except subprocess.TimeoutExpired:
            _stop_process(proc)
            return {"status": "timed_out", "duration_s": time.monotonic() - started}
        finally:
            with self._state:
                self._spawned.discard(proc)
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


@dataclass
class _Waiter:
    """A request in flight; ``reply`` is set, then ``done``, by its reply or by its session's end."""

    nonce: str
    done: threading.Event = field(default_factory=threading.Event)
    reply: dict[str, Any] | None = None

    def answer(self, reply: dict[str, Any]) -> None:
        self.reply = reply
        self.done.set()


class _Session:
    """One serving process, its reply channel, and the thread that reads the channel.

    The reader owns the channel: it hands each reply to the waiter of its nonce. The session
    ends (its process is killed, and every waiter left is answered at once) when:

    - the channel ends or the process exits (a death), or the channel carries something that is
      not a reply: with one phase in flight, that phase is ``worker_lost``; with several, each is
      run again, alone (so only the one that ends its worker alone is ``worker_lost``);
    - a reply answers no request in flight: with one phase in flight that phase is
      ``worker_lost`` (it wrote the reply, or broke the channel); with several, each is run
      again, alone (so the one that writes such replies loses only its own phase);
    - a phase's reply did not come by its deadline (:meth:`expire`): with one phase in flight,
      it is ``timed_out``; with several, each is run again, alone (a silent worker is stuck for
      all of them, and any of them may have stopped it).
    """

    def __init__(self, proc: subprocess.Popen[bytes], reply_fd: int):
        self.proc = proc
        self.reply_fd: int | None = reply_fd
        self.ended: str | None = None
        self._buffer = b""
        self._waiters: dict[str, _Waiter] = {}
        self._lock = threading.Lock()
        self._write = threading.Lock()
        self._reader: threading.Thread | None = None

    def read_ready(self, timeout: float) -> dict[str, Any] | None:
        """The ready reply (before the reader starts); None when the process ends or stays silent."""
        assert self.reply_fd is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self.reply_fd], [], [], min(remaining, 1.0))
            if not ready:
                if self.proc.poll() is not None:
                    return None
                continue
            chunk = os.read(self.reply_fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        data = _parse(line)
        return data

    def start_reader(self) -> None:
        self._reader = threading.Thread(target=self._read, name=f"worker-{self.proc.pid}-replies", daemon=True)
        self._reader.start()

    def submit(self, request: dict[str, Any]) -> _Waiter:
        """Send a request; its waiter (answered at once when the session has ended)."""
        waiter = _Waiter(request["nonce"])
        with self._lock:
            accepted = self.ended is None
            if accepted:
                self._waiters[waiter.nonce] = waiter
        if not accepted:  # it ended since this phase found it alive: the phase never ran
            waiter.answer({"status": _RETRY, "detail": "its worker had just been stopped"})
            return waiter
        try:
            with self._write:
                assert self.proc.stdin is not None
                self.proc.stdin.write((json.dumps(request) + "\n").encode())
                self.proc.stdin.flush()
        except (OSError, ValueError):  # a broken pipe, or a stdin already closed by a stop
            self.end("died")
        return waiter

    def expire(self, waiter: _Waiter) -> int:
        """The waiter's deadline passed: when it is still unanswered, it is withdrawn and the
        session ends (the others to be run again, alone), and the answer is how many phases were
        in flight, itself included; 0 when its answer came meanwhile."""
        with self._lock:
            if self._waiters.pop(waiter.nonce, None) is None:
                return 0
            in_flight = len(self._waiters) + 1
        self.end("silent")
        return in_flight

    def end(self, why: str) -> None:
        """End the session (``died``, ``stray``, ``silent``): answer every waiter, kill the process."""
        with self._lock:
            if self.ended is not None:
                return
            self.ended = why
            waiters = list(self._waiters.values())
            self._waiters.clear()
        _kill_group(self.proc.pid)  # first: a phase run again must not meet this worker's children
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self.proc.stdin is not None:
            try:
                with self._write:
                    self.proc.stdin.close()
            except OSError:  # a broken pipe: the worker is gone, which is the point
                pass
        for waiter in waiters:
            waiter.answer(_ending_reply(why, len(waiters)))

    def close(self) -> None:
        """Let the process end on its own (stdin closed), killing it after 5 s; release the channel."""
        try:
            if self.proc.stdin is not None:
                with self._write:
                    self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.end("died")
        self.close_channel()

    def close_channel(self) -> None:
        """Wait (bounded) for the reader to let the channel go, or close it here when no reader
        runs (only the thread that started the session, or closes it, calls this)."""
        if self._reader is not None:
            self.join_reader()
        elif self.reply_fd is not None:
            os.close(self.reply_fd)
            self.reply_fd = None

    def join_reader(self) -> None:
        """Wait (bounded) for the reader, once the session has ended, to close the channel."""
        if self._reader is not None:
            self._reader.join(TEARDOWN_WAIT_S)

    def _read(self) -> None:
        assert self.reply_fd is not None
        try:
            while self.ended is None:
                ready, _, _ = select.select([self.reply_fd], [], [], 0.5)
                if not ready:
                    if self.proc.poll() is not None:
                        self.end("died")
                    continue
                chunk = os.read(self.reply_fd, 65536)
                if not chunk:
                    self.end("died")
                    break
                self._buffer += chunk
                while b"\n" in self._buffer and self.ended is None:
                    line, _, self._buffer = self._buffer.partition(b"\n")
                    self._dispatch(_parse(line))
        finally:
            os.close(self.reply_fd)
            self.reply_fd = None

    def _dispatch(self, reply: dict[str, Any] | None) -> None:
        if reply is None:
            self.end("died")
            return
        with self._lock:
            waiter = self._waiters.pop(str(reply.get("nonce")), None)
        if waiter is None:
            self.end("stray")
        else:
            waiter.answer(reply)


def _ending_reply(why: str, in_flight: int) -> dict[str, Any]:
    """What a phase still in flight gets when its session ends (see :class:`_Session`): with
    others in flight beside it, any of them may have ended the worker, so each is run again
    alone, and only the one that ends (or silences) its worker alone is blamed."""
    if why == "silent":
        return {"status": _RETRY, "alone": True,
                "detail": "its worker was stopped because it stopped answering with several phases in flight"}
    if why == "stray":
        if in_flight == 1:
            return {"status": "worker_lost",
                    "detail": "its reply did not answer this request (something else wrote on the reply channel)"}
        return {"status": _RETRY, "alone": True,
                "detail": "its worker was stopped because a reply answered no request in flight"}
    if in_flight > 1:
        return {"status": _RETRY, "alone": True, "detail": f"its worker died with {in_flight} phases in flight"}
    return {"status": "worker_lost"}


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _remove(*paths: Path) -> None:
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _outcome(
    op: str, reply: dict[str, Any], status: str, result: Path, output: Path, started_wall: str, duration: float,
    limit: float,
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
        limit_s=limit,
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
