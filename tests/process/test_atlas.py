"""The release atlas over fake releases in a local wheel folder, then a bisect over the same range
that answers from the atlas's cells alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import Harness, build_wheel, write_scenario

PACKAGE = "harness-fake-atlas"
#: Release n (1.n) is broken below FIXED; the pre-release is not among the releases.
FIXED = 2
RELEASES = ["1.0", "1.1", "1.2", "1.3", "1.4"]


@pytest.fixture
def atlas_env(harness: Harness, tmp_path: Path) -> tuple[Harness, Path, Path]:
    wheels = tmp_path / "wheels"
    for n, version in enumerate(RELEASES):
        body = f"V = {n}\nBROKEN = {n < FIXED}\n"
        build_wheel(wheels, PACKAGE, version, {"harness_fake_atlas/__init__.py": body})
    build_wheel(wheels, PACKAGE, "1.3rc1", {"harness_fake_atlas/__init__.py": "V = 3\nBROKEN = True\n"})
    folder = tmp_path / "scenarios"
    write_scenario(folder, "fake_fixed", '''
        """Fixed from some release on (not run on 1.2)"""
        import harness_fake_atlas
        SIGNATURE = "ValueError: broken"
        REQUIRES = {"harness-fake-atlas": "!=1.2"}
        def run(workdir):
            if harness_fake_atlas.BROKEN:
                raise ValueError("broken")
            return {"expected": 1.0, "actual": 1.0}
    ''')
    write_scenario(folder, "fake_values", '''
        """Wrong values, then right, then an error"""
        import harness_fake_atlas
        def run(workdir):
            if harness_fake_atlas.V >= 3:
                raise RuntimeError("<b>gone</b>")
            return {"expected": 1.0, "actual": 1.0 if harness_fake_atlas.V == 2 else 2.0}
    ''')
    write_scenario(folder, "fake_files", '''
        """Files of 1.0 do not load in later releases"""
        import os
        import harness_fake_atlas
        SIGNATURE = "ValueError: a file of 1.0"
        def save(workdir):
            with open(os.path.join(workdir, "v.txt"), "w") as handle:
                handle.write(str(harness_fake_atlas.V))
            return {"v": 1.0}
        def load(workdir):
            with open(os.path.join(workdir, "v.txt")) as handle:
                saved = int(handle.read())
            if saved == 0 and harness_fake_atlas.V > 0:
                raise ValueError("a file of 1.0")
            return {"v": 1.0}
    ''')
    env = {k: v for k, v in harness.env.items() if k not in ("UV_NO_INDEX", "UV_FIND_LINKS")}
    env["HARNESS_ENVS_DIR"] = str(tmp_path / "envs")
    return Harness(env=env, tmp=tmp_path), folder, wheels


def test_the_atlas_finds_every_transition_and_a_bisect_answers_from_it(atlas_env: tuple[Harness, Path, Path],
                                                                       tmp_path: Path) -> None:
    harness, folder, wheels = atlas_env
    out = tmp_path / "atlas"
    common = ["--package", PACKAGE, "--old", "1.0", "--new", "1.4", "--scenarios", str(folder),
              "--find-links", str(wheels), "--timeout", "60"]
    proc = harness.run("atlas", *common, "--cross", "adjacent", "--jobs", "2", "--out", str(out), check_code=0)
    assert f"atlas of {PACKAGE} over 5 releases (1.0 … 1.4)" in proc.stdout
    assert "[19/19]" in proc.stdout  # progress lines of the run: 2 single-env scenarios on 5 releases, 5 + 4 loads
    expected = [
        "fake_files (loading the previous release's save): reproduced → passed between 1.1 and 1.2",
        "fake_fixed: reproduced → passed between 1.1 and 1.3 (across 1.2: skipped, which say nothing)",
        "fake_values: wrong_values → passed between 1.1 and 1.2",
        "fake_values: passed → error between 1.2 and 1.3",
    ]
    summary = proc.stdout.split("\ntransitions:\n", 1)[1]
    for line in expected:
        assert f"  {line}\n" in summary
    assert "  fake_files: no transition (passed wherever it tells)\n" in summary

    for name in ("results.json", "index.html", "atlas.json", "atlas.md", "atlas.html"):
        assert (out / name).is_file(), name
    record = json.loads((out / "atlas.json").read_text())
    assert record["schema"] == 1 and record["releases"] == RELEASES and record["cross"] == "adjacent"
    assert sorted(t["text"] for t in record["transitions"]) == sorted(expected)
    fixed = next(t for t in record["transitions"] if t["scenario"] == "fake_fixed")
    assert (fixed["before"], fixed["after"], fixed["last_before"], fixed["first_after"]) == ("reproduced", "passed", "1.1", "1.3")
    assert fixed["across"] == [{"version": "1.2", "verdict": "skipped"}]
    lanes = {(t["scenario"], t["lane"]): [p["verdict"] for p in t["points"]] for t in record["timelines"]}
    assert lanes[("fake_files", "previous")] == [None, "reproduced", "passed", "passed", "passed"]
    assert lanes[("fake_fixed", "own")] == ["reproduced", "reproduced", "skipped", "passed", "passed"]

    page = (out / "atlas.html").read_text()
    assert "&lt;b&gt;gone&lt;/b&gt;" in page and "<b>gone</b>" not in page  # a reason shown in a title, escaped
    for line in expected:
        assert line.replace("'", "&#39;") in page
    timeline = page.split('id="t-fake_fixed-own"', 1)[1].split("</section>", 1)[0]
    assert [f"<th scope=\"col\">{v}</th>" in timeline for v in RELEASES] == [True] * 5
    assert timeline.count('data-verdict="reproduced"') == 2 and timeline.count('data-verdict="passed"') == 2
    assert 'class="cell v-reproduced before"' in timeline and 'class="cell v-passed after"' in timeline
    assert 'class="cell v-skipped across"' in timeline
    markdown = (out / "atlas.md").read_text()
    assert "fake\\_fixed: reproduced → passed between 1.1 and 1.3" in markdown

    # a bisect over the same range finds every cell in the atlas: no probe of its own
    bisect_out = tmp_path / "bisect"
    again = harness.run("bisect", "--scenario", "fake_fixed", *common, "--known", str(out), "--out", str(bisect_out),
                        check_code=0)
    probes = [line for line in again.stdout.splitlines() if line.startswith("probe ")]
    assert probes and all(f"known from {out}" in line for line in probes)
    assert not (bisect_out / "probes").exists()
    report = json.loads((bisect_out / "bisect.json").read_text())
    assert all(p["run_dir"] is None and p["reused_from"] == str(out) for p in report["probes"])
    assert report["answer"]["last_old"] == "1.1" and report["answer"]["first_new"] == "1.3"
    # the atlas in a folder of runs (as under reports/runs/, which bisect reads by default) is found too
    third = harness.run("bisect", "--scenario", "fake_fixed", *common, "--known", str(tmp_path), "--out",
                        str(tmp_path / "third"), check_code=0)
    assert third.stdout.count(f"known from {out}") == len(probes) and not (tmp_path / "third" / "probes").exists()


def test_bad_atlas_input_is_one_line(harness: Harness, tmp_path: Path) -> None:
    proc = harness.run("atlas", "--package", "harness-fake", "--old", "1.0", "--new", "3.0", "--with", "harness-fake==1.0",
                       "--out", str(tmp_path / "a"))
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: --with 'harness-fake==1.0' names the package of the atlas itself."]
    proc = harness.run("atlas", "--package", "harness-fake", "--old", "1.0", "--new", "3.0", "--cross", "all")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists()
