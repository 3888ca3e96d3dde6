"""Envs with uv against a local wheel folder: install_failed, reuse, a changed pin, what is recorded."""

from __future__ import annotations

import shutil
from pathlib import Path

from support import FAKE, Harness, build_wheel, local_index_env, write_scenario

VERSION_PROBE = '''
    """Reports the installed fake version"""
    import harness_fake
    def run(workdir):
        return {"expected": 1.0, "actual": float(harness_fake.__version__ == "1.0")}
'''


def test_a_pin_that_does_not_exist_is_install_failed_and_the_others_run(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "probe", VERSION_PROBE)
    write_scenario(folder, "other", '"""Other"""\ndef run(workdir):\n    return None\n')
    out = tmp_path / "run"
    proc = harness.run("matrix", "--scenarios", str(folder), "--out", str(out),
                       "--pairing", f"{FAKE}==9.9", "--pairing", f"{FAKE}==1.0", check_code=0)
    data = harness.results(out)
    by_pairing = {(c["pairing"], c["scenario"]): c for c in data["cells"]}
    for scenario in ("probe", "other"):
        failed = by_pairing[(f"{FAKE}-9.9", scenario)]
        assert failed["verdict"] == "install_failed"
        assert "harness-fake==9.9" in failed["message"]
    assert by_pairing[(f"{FAKE}-1.0", "probe")]["verdict"] == "passed"
    [bad] = [p for p in data["pairings"] if p["id"] == f"{FAKE}-9.9"]
    assert bad["install_error"] and "9.9" in bad["install_error"]
    assert "install failed" in proc.stdout


def test_envs_are_reused_and_a_changed_pin_makes_a_new_one(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "probe", VERSION_PROBE)
    envs = tmp_path / "envs"
    first = harness.run("matrix", "--scenarios", str(folder), "--out", str(tmp_path / "a"), "--envs-dir", str(envs),
                        "--pairing", f"{FAKE}==1.0", check_code=0)
    assert f"env {FAKE}-1.0: installed" in first.stdout
    second = harness.run("matrix", "--scenarios", str(folder), "--out", str(tmp_path / "b"), "--envs-dir", str(envs),
                         "--pairing", f"{FAKE}==1.0", check_code=0)
    assert f"env {FAKE}-1.0: reused" in second.stdout
    third = harness.run("matrix", "--scenarios", str(folder), "--out", str(tmp_path / "c"), "--envs-dir", str(envs),
                        "--pairing", f"{FAKE}==3.0", check_code=0)
    assert f"env {FAKE}-3.0: installed" in third.stdout
    assert len([p for p in envs.iterdir() if p.is_dir()]) == 2
    [cell] = harness.results(tmp_path / "c")["cells"]
    assert cell["verdict"] == "wrong_values"  # 3.0 is really installed, so the probe sees it
    [pairing] = harness.results(tmp_path / "c")["pairings"]
    assert pairing["packages"] == {FAKE: "3.0"}


def test_latest_is_resolved_to_a_concrete_version(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "probe", VERSION_PROBE)
    out = tmp_path / "run"
    proc = harness.run("matrix", "--scenarios", str(folder), "--out", str(out), "--pairing", FAKE, check_code=0)
    assert f"resolved '{FAKE}': {FAKE}-3.0" in proc.stdout  # the newest release, not the pre-release
    [pairing] = harness.results(out)["pairings"]
    assert pairing["id"] == f"{FAKE}-3.0" and pairing["versions"] == {FAKE: "3.0"}
    assert pairing["requested"]["spec"] == FAKE


def test_backend_is_set_for_the_scenario(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "backend", '''
        """Sees KERAS_BACKEND"""
        import os
        def run(workdir):
            return {"expected": 1.0, "actual": float(os.environ["KERAS_BACKEND"] == "jax")}
    ''')
    out = tmp_path / "run"
    harness.run("matrix", "--scenarios", str(folder), "--out", str(out), "--pairing", f"{FAKE}==1.0,backend=jax",
                check_code=0)
    data = harness.results(out)
    assert data["pairings"][0]["backend"] == "jax" and data["pairings"][0]["id"] == f"{FAKE}-1.0+backend-jax"
    assert data["cells"][0]["verdict"] == "passed"


def test_requires_counts_a_nightly_distribution_as_its_module_and_judges_it_as_a_release(
    harness: Harness, tmp_path: Path
) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "wants_new", '"""Needs fakekeras 3.16 or newer"""\nREQUIRES = {"fakekeras": ">=3.16"}\n'
                                        'def run(workdir):\n    return None\n')
    write_scenario(folder, "wants_old", '"""Needs fakekeras older than 3.16"""\nREQUIRES = {"fakekeras": "<3.16"}\n'
                                        'def run(workdir):\n    return None\n')
    out = tmp_path / "run"
    harness.run("matrix", "--scenarios", str(folder), "--out", str(out),
                "--pairing", "fakekeras-nightly==3.16.0.dev2026102704", check_code=0)
    cells = {c["scenario"]: c for c in harness.results(out)["cells"]}
    assert cells["wants_new"]["verdict"] == "passed"
    assert cells["wants_old"]["verdict"] == "skipped"
    assert "fakekeras-nightly 3.16.0.dev2026102704 (judged as 3.16.0)" in cells["wants_old"]["reason"]


def test_two_distributions_installing_one_module_are_install_failed(wheelhouse: Path, tmp_path: Path) -> None:
    """A stable package and a nightly of it that both install the same top-level module (as keras
    and keras-nightly both install ``keras/``): the pairing does not test what it names."""
    wheels = tmp_path / "wheels"
    shutil.copytree(wheelhouse, wheels)
    build_wheel(wheels, "twinpkg", "1.0", {"twinpkg/__init__.py": "__version__ = '1.0'\n"})
    build_wheel(wheels, "twinpkg-nightly", "1.1.dev1", {"twinpkg/__init__.py": "__version__ = '1.1.dev1'\n"})
    build_wheel(wheels, "namespaced-a", "1.0", {"sharedns/a.py": "A = 1\n"})
    build_wheel(wheels, "namespaced-b", "1.0", {"sharedns/b.py": "B = 1\n"})
    folder = tmp_path / "scenarios"
    write_scenario(folder, "other", '"""Other"""\ndef run(workdir):\n    return None\n')
    harness = Harness(env=local_index_env(wheels, tmp_path / "envs"), tmp=tmp_path)
    out = tmp_path / "run"
    harness.run("matrix", "--scenarios", str(folder), "--out", str(out), "--pairing", "twinpkg==1.0,twinpkg-nightly==1.1.dev1",
                "--pairing", "namespaced-a==1.0,namespaced-b==1.0", check_code=0)
    cells = {c["pairing"]: c for c in harness.results(out)["cells"]}
    twins = next(c for pairing, c in cells.items() if pairing.startswith("twinpkg"))
    assert twins["verdict"] == "install_failed"
    assert "'twinpkg'" in twins["message"] and "twinpkg 1.0" in twins["message"] and "twinpkg-nightly 1.1.dev1" in twins["message"]
    namespaced = next(c for pairing, c in cells.items() if pairing.startswith("namespaced"))
    assert namespaced["verdict"] == "passed"  # a namespace package shared by design is no clash
