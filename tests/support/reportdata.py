"""Results built in the test for the report tests: every verdict, hostile text, a cross grid."""

from __future__ import annotations

from harness.evidence.model import Cell, PairingRecord, Requested, Results, RunInfo, SaveRecord, ScenarioRecord

HOSTILE = '<script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2">&amp; "quotes" \'single\''


def pairing(keras: str, tf: str) -> PairingRecord:
    return PairingRecord(
        id=f"keras-{keras}+tensorflow-{tf}",
        requested=Requested(spec=f"keras=={keras},tensorflow=={tf}", requirements=[f"keras=={keras}", f"tensorflow=={tf}"]),
        versions={"keras": keras, "tensorflow": tf},
        packages={"keras": keras, "tensorflow": tf, "numpy": "1.26.4", "h5py": "3.11.0"},
        pins=[f"keras=={keras}", f"tensorflow=={tf}"],
        python="3.11.7",
    )


def sample_results(pairings: int = 3, scenarios: int = 3, hostile: bool = True) -> Results:
    """A results object with every verdict represented and one cross-version scenario."""
    keras_versions = ["3.5.0", "3.6.0", "3.15.1"] + [f"3.{i}.0" for i in range(20, 20 + max(0, pairings - 3))]
    records = [pairing(v, "2.16.1" if i < 2 else "2.21.0") for i, v in enumerate(keras_versions[:pairings])]
    scenario_records = [
        ScenarioRecord(id=f"scenario_{i}", title=f"Scenario {i} " + (HOSTILE if hostile and i == 0 else ""),
                       path=f"/work/scenarios/scenario_{i}.py", links=["https://github.com/keras-team/keras/issues/20407"],
                       signature=r"ValueError: .*expected \d+ variables", tags=["rnn"] if i % 2 == 0 else ["formats"])
        for i in range(scenarios)
    ]
    scenario_records.append(ScenarioRecord(id="cross_one", title="A cross-version scenario", path="/work/scenarios/cross_one.py",
                                           kind="cross", links=[], signature=r"expected \d+ variables", tags=["cross"]))
    verdicts = ["reproduced", "passed", "wrong_values", "error", "crashed", "timeout", "install_failed", "skipped"]
    cells = []
    n = 0
    for s in scenario_records[:-1]:
        for p in records:
            verdict = verdicts[n % len(verdicts)]
            n += 1
            cells.append(Cell(
                scenario=s.id, pairing=p.id, verdict=verdict, reason=f"because {verdict}",
                exception_type="ValueError" if verdict in ("reproduced", "error") else None,
                message=(HOSTILE if hostile else "boom") if verdict in ("reproduced", "error") else None,
                traceback="Traceback (most recent call last):\n  ...\nValueError: boom" if verdict == "error" else None,
                compared=verdict in ("passed", "wrong_values"),
                max_abs_diff=0.5 if verdict == "wrong_values" else (4e-8 if verdict == "passed" else None),
                duration_s=1.25, output_tail="some output\x1b[0m with an escape",
            ))
    for loader in records:
        for saver in records:
            verdict = "passed" if _keras(saver) <= _keras(loader) else "error"
            cells.append(Cell(scenario="cross_one", pairing=loader.id, saved_with=saver.id, verdict=verdict,
                              reason="load", compared=verdict == "passed", max_abs_diff=0.0 if verdict == "passed" else None,
                              save=SaveRecord(status="done", pairing=saver.id, ok=True, artifact="artifacts/x", sha256="ab" * 32)))
    return Results(
        run=RunInfo(id="abc123", started="2026-11-28T10:00:00Z", finished="2026-11-28T10:05:00Z", duration_s=300.0,
                    python="3.11.7", platform="Linux", command=["python", "-m", "harness", "matrix"], complete=True),
        pairings=records, scenarios=scenario_records, cells=cells,
    )


def _keras(record: PairingRecord) -> tuple[int, ...]:
    return tuple(int(x) for x in record.versions["keras"].split("."))
