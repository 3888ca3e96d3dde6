"""Claims in the contract, and judged from cells only: holds, does not hold, not enough evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ContractError
from harness.evidence.claims import DOES_NOT_HOLD, HOLDS, NOT_ENOUGH, judge_all
from harness.evidence.model import Cell, PairingRecord, Requested, Results, RunInfo, ScenarioRecord
from harness.plan.claims import Claim
from harness.plan.scenarios import read_scenario
from support import write_scenario

LINK = "https://github.com/keras-team/keras/issues/20407"


def pairing(keras: str, tensorflow: str = "2.16.1") -> PairingRecord:
    return PairingRecord(id=f"keras-{keras}+tensorflow-{tensorflow}", requested=Requested(spec=f"keras=={keras},tensorflow=={tensorflow}"),
                         versions={"keras": keras, "tensorflow": tensorflow},
                         packages={"keras": keras, "tensorflow": tensorflow, "numpy": "1.26.4"})


def run_of(claims: list[Claim], verdicts: dict[str, str], kind: str = "run",
           across: dict[tuple[str, str], str] | None = None) -> Results:
    records = [pairing(v) for v in verdicts]
    by_version = {r.versions["keras"]: r for r in records}
    cells = [Cell(scenario="seed", pairing=by_version[v].id, saved_with=by_version[v].id if kind == "cross" else None, verdict=verdict)
             for v, verdict in verdicts.items()]
    for (saver, loader), verdict in (across or {}).items():
        cells.append(Cell(scenario="seed", pairing=by_version[loader].id, saved_with=by_version[saver].id, verdict=verdict))
    scenario = ScenarioRecord(id="seed", title="The seed", path="/s/seed.py", kind=kind, claims=claims)
    return Results(run=RunInfo(id="r1", started="2026-12-01T00:00:00Z"), pairings=records, scenarios=[scenario], cells=cells)


def fixed_in(version: str) -> Claim:
    return Claim(link=LINK, says="does not reproduce with 3.6.0", kind="fixed_in", version=version)


def test_the_seed_claim_does_not_hold_and_names_the_cells() -> None:
    [judged] = judge_all([run_of([fixed_in("3.6.0")], {"3.5.0": "reproduced", "3.6.0": "reproduced", "3.15.1": "reproduced"})])
    assert judged.status == DOES_NOT_HOLD
    assert judged.detail == "reproduced on keras 3.6.0, reproduced on keras 3.15.1"
    assert [e.pairing for e in judged.against] == ["keras-3.6.0+tensorflow-2.16.1", "keras-3.15.1+tensorflow-2.16.1"]


def test_a_claim_that_holds() -> None:
    [judged] = judge_all([run_of([fixed_in("3.6.0")], {"3.5.0": "reproduced", "3.6.0": "passed", "3.15.1": "passed"})])
    assert judged.status == HOLDS and "passed on keras 3.6.0" in judged.detail


@pytest.mark.parametrize("verdicts", [
    {"3.5.0": "reproduced"},  # nothing measured at 3.6.0 or later
    {"3.5.0": "reproduced", "3.6.0": "install_failed", "3.15.1": "timeout"},  # cells that say nothing do not count
])
def test_not_enough_evidence_names_what_would_decide_it(verdicts: dict[str, str]) -> None:
    [judged] = judge_all([run_of([fixed_in("3.6.0")], verdicts)])
    assert judged.status == NOT_ENOUGH and "keras >= 3.6.0" in judged.detail


def test_the_other_kinds() -> None:
    claims = [
        Claim(link=LINK, says="broken since 3.4", kind="broken_since", version="3.4.0"),
        Claim(link=LINK, says="works with 3.6.0", kind="works_with", pairing="keras==3.6.0,tensorflow==2.16.1"),
        Claim(link=LINK, says="use the writer's version", kind="works_with", pairing="keras==3.9.0"),
    ]
    judged = judge_all([run_of(claims, {"3.3.3": "passed", "3.4.0": "error", "3.6.0": "wrong_values"})])
    assert [j.status for j in judged] == [HOLDS, DOES_NOT_HOLD, NOT_ENOUGH]
    not_supported = Claim(link=LINK, says="not guaranteed between versions", kind="not_supported",
                                saved_with=">=3.15", loaded_with="<3.15")
    runs = run_of([not_supported], {"3.5.0": "passed", "3.15.1": "passed"}, kind="cross",
                  across={("3.15.1", "3.5.0"): "error", ("3.5.0", "3.15.1"): "passed"})
    [judged_ns] = judge_all([runs])
    assert judged_ns.status == HOLDS and "keras 3.15.1 → keras 3.5.0" in judged_ns.detail


def test_works_with_counts_the_backend_and_the_python_of_its_spec() -> None:
    """Measured on the tensorflow backend and Python 3.11 only: a claim about the jax backend or
    Python 3.9 has no evidence, one about what was measured holds."""
    claims = [Claim(link=LINK, says="works", kind="works_with", pairing=spec)
              for spec in ("keras==3.6.0,backend=jax", "keras==3.6.0,python=3.9", "keras==3.6.0,backend=tensorflow,python=3.11")]
    results = run_of(claims, {"3.6.0": "passed"})
    for record in results.pairings:
        record.python = "3.11.7"
    assert [j.status for j in judge_all([results])] == [NOT_ENOUGH, NOT_ENOUGH, HOLDS]


def test_only_the_cells_of_the_scenario_s_current_text_are_judged() -> None:
    """An older run measured another text of the scenario (it failed there); the newer text
    passes. Only the newer text's cells count, and the older run is named as left out."""
    old = run_of([fixed_in("3.6.0")], {"3.6.0": "reproduced"})
    old.run = RunInfo(id="old-run", started="2026-11-01T00:00:00Z")
    old.scenarios[0].sha256 = "a" * 64
    new = run_of([fixed_in("3.6.0")], {"3.6.0": "passed"})
    new.run = RunInfo(id="new-run", started="2026-12-01T00:00:00Z")
    new.scenarios[0].sha256 = "b" * 64
    for runs in ([old, new], [new, old]):
        [judged] = judge_all(runs)
        assert judged.status == HOLDS, judged
        assert "left out: the cells of run old-run" in judged.detail and "another text of seed" in judged.detail
    library = Results(run=RunInfo(id="library", started="2026-12-02T00:00:00Z"), scenarios=[old.scenarios[0]])
    [judged] = judge_all([old, new], library)  # the library holds the older text: only its cells count
    assert judged.status == DOES_NOT_HOLD and "left out: the cells of run new-run" in judged.detail


def entries(*fields: dict[str, object]) -> str:
    """A CLAIMS literal whose entries carry the link and words, and ``fields``."""
    return repr([{"link": LINK, "says": "x", **f} for f in fields])


@pytest.mark.parametrize("claims, fragment", [
    ('"not a list"', "CLAIMS must be a list"),
    (entries({"kind": "fixd_in", "version": "3.6.0"}), "CLAIMS entry 1: kind 'fixd_in' is not one of"),
    (entries({"kind": "fixed_in"}), "CLAIMS entry 1: a fixed_in claim needs version"),
    (entries({"kind": "fixed_in", "version": "three"}), "CLAIMS entry 1: Invalid version"),
    (entries({"kind": "works_with", "pairing": "keras==3.6.0", "version": "1"}), "version is not a key of a works_with claim"),
    (entries({"kind": "works_with", "pairing": "keras", "link": "ftp://x"}), "is not an http(s) URL"),
    (entries({"kind": "works_with", "pairing": "keras==="}), "CLAIMS entry 1"),
    (entries({"kind": "fixed_in", "version": "3.6.0"}, {"kind": "fixed_in", "version": 5}), "CLAIMS entry 2 must be a mapping"),
])
def test_malformed_claims_name_the_file_and_the_entry(tmp_path: Path, claims: str, fragment: str) -> None:
    path = write_scenario(tmp_path, "claimed", f'"""Claimed"""\nCLAIMS = {claims}\ndef run(workdir):\n    return None\n')
    with pytest.raises(ContractError, match="claimed.py") as caught:
        read_scenario(path)
    assert fragment in str(caught.value)


def test_a_good_claim_is_read() -> None:
    path = Path(__file__).resolve().parents[2] / "scenarios" / "gru_weights_into_grucell.py"
    assert read_scenario(path).id == "gru_weights_into_grucell"


def test_the_page_and_the_summary_show_the_claims_with_links_to_their_cells() -> None:
    from harness.report.model import build_report
    from harness.report.render import render_html, render_markdown

    results = run_of([fixed_in("3.6.0")], {"3.5.0": "reproduced", "3.6.0": "reproduced"})
    model = build_report(results)
    [claim] = model.claims
    assert claim.status == DOES_NOT_HOLD and claim.cells and claim.cells[0][1] == "reproduced on keras 3.6.0"
    page = render_html(model)
    assert 'id="claims"' in page and page.count(f'href="#{claim.cells[0][0]}"') == 2  # the claim links the matrix's own cell
    summary = render_markdown(model)
    assert "**does not hold**" in summary and "fixed in keras 3.6.0" in summary


def test_a_workaround_for_files_written_elsewhere_is_judged_by_its_loads() -> None:
    claim = Claim(link=LINK, says="use TFSMLayer", kind="works_with", pairing="keras==3.15.1")
    runs = run_of([claim], {"3.5.0": "skipped", "3.15.1": "skipped"}, kind="cross",
                  across={("3.5.0", "3.15.1"): "passed"})  # only the writer's (Keras 2's) file is loaded
    [judged] = judge_all([runs])
    assert judged.status == HOLDS and "keras 3.5.0 → keras 3.15.1" in judged.detail
