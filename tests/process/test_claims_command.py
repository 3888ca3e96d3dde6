"""The claims of a library judged from real runs on the fake env, and malformed claims refused."""

from __future__ import annotations

import json
from pathlib import Path

from support import FAKE, Harness, write_scenario

LINK = "https://example.org/thread/1"
FLIPS = f'''
    """Fails on 1.x, fixed on 3.x"""
    import harness_fake
    SIGNATURE = "ValueError: expected 3 variables"
    LINKS = ["{LINK}"]
    CLAIMS = [
        {{"link": "{LINK}", "says": "fixed in 3.0", "kind": "fixed_in", "package": "{FAKE}", "version": "3.0"}},
        {{"link": "{LINK}", "says": "fixed in 2.0", "kind": "fixed_in", "package": "{FAKE}", "version": "1.0"}},
        {{"link": "{LINK}", "says": "works with 4.0", "kind": "works_with", "pairing": "{FAKE}==4.0"}},
    ]
    def run(workdir):
        if harness_fake.__version__.startswith("1"):
            raise ValueError("expected 3 variables, but received 0")
        return {{"expected": 1.0, "actual": 1.0}}
'''


def test_the_claims_page_judges_every_claim_from_the_cells(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "flips", FLIPS)
    run = tmp_path / "run"
    proc = harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--pairing", f"{FAKE}==3.0",
                       "--out", str(run), check_code=0)
    assert "holds               flips: fixed in harness-fake 3.0" in proc.stdout
    out = tmp_path / "claims"
    proc = harness.run("claims", str(run), "--scenarios", str(folder), "--out", str(out), check_code=0)
    statuses = [c["status"] for c in json.loads((out / "claims.json").read_text())["claims"]]
    assert statuses == ["holds", "does not hold", "not enough evidence"]
    assert "reproduced on harness-fake-1.0" in proc.stdout
    page = (out / "index.html").read_text()
    assert "does not hold" in page and LINK in page and "<script" not in page


def test_malformed_claims_are_one_line_naming_the_file_and_the_entry(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "claimed", f'"""Claimed"""\nCLAIMS = [{{"link": "{LINK}", "says": "x", "kind": "fixed"}}]\n'
                                      'def run(workdir):\n    return None\n')
    proc = harness.run("list", "--scenarios", str(folder))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "claimed.py: CLAIMS entry 1: kind 'fixed' is not one of" in proc.stderr


def test_a_claim_whose_status_changes_fails_the_gate_when_asked(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "flips", FLIPS)
    pairings = ["--pairing", f"{FAKE}==1.0", "--pairing", f"{FAKE}==3.0"]
    expect = tmp_path / "expect.toml"
    harness.run("matrix", "--scenarios", str(folder), *pairings, "--out", str(tmp_path / "a"), "--write-expect", str(expect),
                check_code=0)
    assert '"flips: fixed in harness-fake 3.0" = "holds"' in expect.read_text()
    old = '"kind": "fixed_in", "package": "harness-fake", "version": "3.0"'
    text = (folder / "flips.py").read_text().replace(old, old.replace('"3.0"', '"4.0"'))
    (folder / "flips.py").write_text(text)  # the same verdicts; one claim now says something else
    harness.run("matrix", "--scenarios", str(folder), *pairings, "--out", str(tmp_path / "b"), "--expect", str(expect),
                check_code=0)
    proc = harness.run("matrix", "--scenarios", str(folder), *pairings, "--out", str(tmp_path / "c"), "--expect", str(expect),
                       "--fail-on-claim-change")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    tail = proc.stdout.strip().splitlines()
    assert "claims: 2 claims have another status than" in tail[-1]
    assert any("flips: fixed in harness-fake 4.0" in line and "not enough evidence" in line for line in tail)
    assert any("flips: fixed in harness-fake 3.0" in line and "holds" in line for line in tail)
    proc = harness.run("matrix", "--scenarios", str(folder), *pairings, "--fail-on-claim-change")
    assert proc.returncode == 2 and "give --expect FILE too" in proc.stderr
