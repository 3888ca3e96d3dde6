"""decide_verdict as a truth table: every way a cell can end, and the precedence between them."""

from __future__ import annotations

import pytest

from harness.evidence.model import NOT_RUN, SAYS_NOTHING, UNFINISHED, Verdict
from harness.evidence.phase import RESULT_FORMAT, Comparison, PhaseFacts, PhaseOutcome
from harness.run.verdict import decide_verdict, known_refusal

SIGNATURE = r"ValueError: .*expected 3 variables"


def done(outcome: str, exception: str | None = None, message: str = "", comparison: Comparison | None = None,
         op: str = "run", matched: bool | None = None, status: str = "done") -> PhaseOutcome:
    facts = PhaseFacts(format=RESULT_FORMAT, op=op, outcome=outcome, exception_type=exception, message=message,
                       comparison=comparison, signature_matched=matched)
    return PhaseOutcome(op=op, status=status, duration_s=1.0, facts=facts)


RETURNED_NOTHING = done("returned")
CLOSE = done("returned", comparison=Comparison(compared=True, close=True, max_abs_diff=1e-8, count=4))
DIFFERENT = done("returned", comparison=Comparison(compared=True, close=False, max_abs_diff=0.5, count=4, mismatch="x"))
NOT_COMPARED = done("returned", comparison=Comparison(compared=False))
SIGNATURE_RAISED = done("raised", "ValueError", "Layer 'gru_cell' expected 3 variables, but received 0", matched=True)
OTHER_RAISED = done("raised", "KeyError", "'kernel'", matched=False)
UNCOMPARABLE = done("uncomparable", "RecursionError", "the returned values could not be compared: RecursionError: deep")
MATCH_CUT_SHORT = done("raised", "ValueError", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", matched=None, status="timed_out")
CONTRACT = done("contract", "ContractError", "run() must return None or a mapping")
DIED_SIGNAL = PhaseOutcome(op="run", status="died", duration_s=1.0, signal=11)
DIED_STATUS = PhaseOutcome(op="run", status="died", duration_s=1.0, exit_status=3)
TIMED_OUT = PhaseOutcome(op="run", status="timed_out", duration_s=300.0)
LOST = PhaseOutcome(op="run", status="worker_lost", duration_s=2.0, detail="it did not start")


@pytest.mark.parametrize("outcome, signature, verdict", [
    (CLOSE, SIGNATURE, Verdict.PASSED),
    (RETURNED_NOTHING, SIGNATURE, Verdict.PASSED),
    (NOT_COMPARED, None, Verdict.PASSED),
    (DIFFERENT, SIGNATURE, Verdict.WRONG_VALUES),
    (SIGNATURE_RAISED, SIGNATURE, Verdict.REPRODUCED),
    (SIGNATURE_RAISED, None, Verdict.ERROR),
    (OTHER_RAISED, SIGNATURE, Verdict.ERROR),
    (CONTRACT, r"ContractError", Verdict.ERROR),  # a broken contract never reproduces, whatever the signature
    (UNCOMPARABLE, r"RecursionError", Verdict.ERROR),  # nor do values the harness could not compare
    (MATCH_CUT_SHORT, r"(a+)+$", Verdict.ERROR),  # it raised at once: the matching, not the scenario, ran out of time
    (DIED_SIGNAL, SIGNATURE, Verdict.CRASHED),
    (DIED_STATUS, SIGNATURE, Verdict.CRASHED),
    (TIMED_OUT, SIGNATURE, Verdict.TIMEOUT),
    (LOST, SIGNATURE, Verdict.CRASHED),
])
def test_the_last_phase_decides(outcome: PhaseOutcome, signature: str | None, verdict: Verdict) -> None:
    decision = decide_verdict(signature, outcome=outcome)
    assert decision.verdict is verdict
    assert decision.reason


@pytest.mark.parametrize("outcome", [CLOSE, SIGNATURE_RAISED, DIED_SIGNAL, TIMED_OUT])
def test_what_happened_before_the_phase_comes_first(outcome: PhaseOutcome) -> None:
    assert decide_verdict(SIGNATURE, install_error="No solution found", unmet="REQUIRES keras>=3.6",
                          interrupted=True, outcome=outcome).verdict is Verdict.INSTALL_FAILED
    assert decide_verdict(SIGNATURE, unmet="REQUIRES keras>=3.6", interrupted=True, outcome=outcome).verdict is Verdict.SKIPPED
    assert decide_verdict(SIGNATURE, interrupted=True, outcome=outcome).verdict is Verdict.INTERRUPTED


def test_the_reasons_carry_the_facts() -> None:
    assert decide_verdict(None, install_error="line one\nBecause keras==9 has no wheels").reason == "Because keras==9 has no wheels"
    assert "SIGSEGV (11)" in decide_verdict(None, outcome=DIED_SIGNAL).reason
    assert "status 3" in decide_verdict(None, outcome=DIED_STATUS).reason
    assert "(it did not start)" in decide_verdict(None, outcome=LOST).reason
    assert "4 values compared" in decide_verdict(None, outcome=CLOSE).reason
    assert "the SIGNATURE could not be matched within the limit" in decide_verdict(r"(a+)+$", outcome=MATCH_CUT_SHORT).reason
    assert "could not be compared" in decide_verdict(r"RecursionError", outcome=UNCOMPARABLE).reason


@pytest.mark.parametrize("save, verdict, fragment", [
    (done("raised", "ValueError", "expected 3 variables", op="save", matched=True), Verdict.REPRODUCED, "save failed in keras-3.5.0"),
    (done("raised", "OSError", "disk full", op="save", matched=False), Verdict.ERROR, "save failed in keras-3.5.0"),
    (PhaseOutcome(op="save", status="timed_out", duration_s=9.0), Verdict.TIMEOUT, "save failed in keras-3.5.0"),
    (PhaseOutcome(op="save", status="died", duration_s=1.0, signal=11), Verdict.CRASHED, "save failed in keras-3.5.0"),
    (PhaseOutcome(op="save", status="worker_lost", duration_s=1.0), Verdict.CRASHED, "save failed in keras-3.5.0"),
])
def test_a_failed_save_decides_the_load_cell(save: PhaseOutcome, verdict: Verdict, fragment: str) -> None:
    decision = decide_verdict(SIGNATURE, save=save, saved_with="keras-3.5.0", outcome=CLOSE)
    assert decision.verdict is verdict and fragment in decision.reason


def test_a_save_that_returned_leaves_the_load_to_decide() -> None:
    assert decide_verdict(SIGNATURE, save=done("returned", op="save"), saved_with="p", outcome=DIFFERENT).verdict is Verdict.WRONG_VALUES


def test_a_cell_that_ran_needs_its_outcome() -> None:
    with pytest.raises(ValueError):
        decide_verdict(SIGNATURE)


def test_the_verdict_groups() -> None:
    assert set(NOT_RUN) == {Verdict.INSTALL_FAILED, Verdict.SKIPPED, Verdict.INTERRUPTED}
    assert SAYS_NOTHING == NOT_RUN | {Verdict.CRASHED, Verdict.TIMEOUT}
    assert "interrupted" in UNFINISHED and "passed" not in SAYS_NOTHING
    assert not ({Verdict.PASSED, Verdict.REPRODUCED, Verdict.WRONG_VALUES, Verdict.ERROR} & SAYS_NOTHING)


K3_LAMBDA = ("The `{arg_name}` of this `Lambda` layer is a Python lambda. Deserializing it is unsafe. If you trust the source "
             "of the config artifact, you can override this error by passing `safe_mode=False` to `from_config()`, or calling "
             "`keras.config.enable_unsafe_deserialization().")
K2_LAMBDA = ("Requested the deserialization of a Lambda layer with a Python `lambda` inside it. This carries a potential risk "
             "of arbitrary code execution and thus it is disallowed by default. If you trust the source of the saved model, "
             "you can pass `safe_mode=False` to the loading function in order to allow Lambda layer loading.")


@pytest.mark.parametrize("message", [K3_LAMBDA, K2_LAMBDA])
def test_a_load_refused_by_safe_mode_says_so(message: str) -> None:
    decision = decide_verdict(None, outcome=done("raised", "ValueError", message, matched=False, op="load"))
    assert decision.verdict is Verdict.ERROR
    assert decision.reason.startswith("load refused by safe_mode (Lambda): ValueError: ")
    saved = decide_verdict(None, save=done("raised", "ValueError", message, matched=False), saved_with="keras-3.5.0")
    assert "refused by safe_mode (Lambda)" in saved.reason


def test_other_refusals_and_errors_keep_their_words() -> None:
    other = done("raised", "ValueError", "Loading is unsafe: pass safe_mode=False", matched=False)
    assert decide_verdict(None, outcome=other).reason.startswith("run refused by safe_mode: ValueError")
    assert decide_verdict(None, outcome=OTHER_RAISED).reason == "run raised KeyError: 'kernel'"
    assert known_refusal("Unknown layer: 'Lambda'") is None


def test_a_failure_of_the_harnesss_helper_is_its_own_error_never_the_models_verdict() -> None:
    failed = done("raised", "HelperFailed", "the harness's helper failed in this env: converting the outputs to numpy: "
                  "AttributeError: module 'keras' has no attribute 'ops'", op="load", matched=True)
    decision = decide_verdict("AttributeError", outcome=failed)  # even a SIGNATURE that fits is not reproduced
    assert decision.verdict is Verdict.ERROR
    assert decision.reason.startswith("load: the harness's helper failed in this env: converting the outputs to numpy")
