"""The run folder's storage: saves kept once by content (blobs), loads linked to them and checked
for writes, file anatomies stored once per distinct file, and results.json within its budget."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from harness.errors import ResultsError
from harness.evidence.anatomy_table import pack_cells, side_name, unpack_cell
from harness.evidence.blobs import BlobStore
from harness.evidence.codec import read_results, stored_results, to_dict, write_results
from harness.evidence.model import ArrayRecord, Cell, FileRecord, GroupRecord, Results, RunInfo
from harness.paths import disk_usage, file_digest, link_tree


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_the_same_bytes_are_stored_once_and_every_save_links_to_them(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    big = os.urandom(1 << 20)
    one = _tree(tmp_path / "a", {"model.keras": big, "sub/config.json": b"{}"})
    two = _tree(tmp_path / "b", {"other.keras": big})
    first, second = store.ingest(one, "s"), store.ingest(two, "s")
    digest = file_digest(one / "model.keras")
    assert {e.path: e.sha256 for e in first.files} == {"model.keras": digest, "sub/config.json": file_digest(one / "sub/config.json")}
    assert [e.sha256 for e in second.files] == [digest]
    blob = store.blob_path(digest, "s")
    assert blob.parent.parent.parent.parent == tmp_path / "blobs" and blob.relative_to(tmp_path / "blobs").parts[1:] == (
        "sha256", digest[:2], digest)
    assert os.stat(one / "model.keras").st_ino == os.stat(two / "other.keras").st_ino == os.stat(blob).st_ino
    assert os.stat(blob).st_mode & 0o777 == 0o444
    assert (two / "other.keras").read_bytes() == big
    assert disk_usage(tmp_path) < 1.2 * len(big) + 64 * 1024  # one copy of the bytes, however many names


def test_a_forgotten_blob_is_made_afresh_by_the_next_file_of_its_digest(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    first = _tree(tmp_path / "a", {"f.h5": b"bytes"})
    [entry] = store.ingest(first, "s").files
    old_inode = os.stat(first / "f.h5").st_ino
    store.forget(entry.sha256, "s")
    assert not store.blob_path(entry.sha256, "s").exists()
    second = _tree(tmp_path / "b", {"f.h5": b"bytes"})
    store.ingest(second, "s")
    assert os.stat(second / "f.h5").st_ino != old_inode == os.stat(first / "f.h5").st_ino


def test_linked_files_share_the_bytes_and_tell_a_write_into_them(tmp_path: Path) -> None:
    source = _tree(tmp_path / "save", {"model.h5": b"0123456789", "deep/er/w.h5": b"w", "plain.txt": b"p"})
    linked = link_tree(source, tmp_path / "work")
    by_name = {item.path.relative_to(tmp_path / "work").as_posix(): item for item in linked}
    assert set(by_name) == {"model.h5", "deep/er/w.h5", "plain.txt"}
    assert all(item.how == "link" for item in linked)
    assert os.stat(tmp_path / "work" / "model.h5").st_ino == os.stat(source / "model.h5").st_ino
    assert all(item.changed() is None for item in linked)
    os.remove(tmp_path / "work" / "plain.txt")  # a load may remove or replace its own names: the save is untouched
    (tmp_path / "work" / "plain.txt").write_bytes(b"replaced")
    assert by_name["plain.txt"].changed(file_digest(source / "plain.txt")) is None  # its link count moved, not its bytes
    with open(tmp_path / "work" / "model.h5", "ab") as handle:  # but writing into a linked file writes the save
        handle.write(b"more")
    assert by_name["model.h5"].changed() == "its size changed from 10 to 14 bytes"
    stat = os.stat(source / "deep/er/w.h5")
    with open(tmp_path / "work" / "deep/er/w.h5", "r+b") as handle:
        handle.write(b"W")
    os.utime(source / "deep/er/w.h5", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1000))
    assert by_name["deep/er/w.h5"].changed() == "it was written to (its modification time changed)"


def _anatomy(path: str, digest: str | None, arrays: int = 3, error: str | None = None) -> FileRecord:
    items = [ArrayRecord(f"layers/dense/vars/{i}", [4, i + 1], "float32") for i in range(arrays)]
    return FileRecord(path=path, format="keras 3 weights (.weights.h5)", size=100, keras_version="3.5.0", arrays=items,
                      groups=[GroupRecord("layers/dense/vars", items, "dense", "layers/dense/vars/0..2")], sha256=digest,
                      error=error)


def _cell(pairing: str, files: list[FileRecord]) -> Cell:
    return Cell(scenario="s", pairing=pairing, saved_with="p1", verdict="passed", files=files)


def test_an_anatomy_is_stored_once_and_each_cell_gets_its_own_path_back() -> None:
    digest = "ab" * 32
    one = _cell("p1", [_anatomy("work/one/model.weights.h5", digest, error="'work/one/model.weights.h5' is odd")])
    two = _cell("p2", [_anatomy("work/two/model.weights.h5", digest, error="'work/two/model.weights.h5' is odd"),
                       FileRecord(path="work/two/gone.h5", format="unreadable", error="FileNotFoundError: gone")])
    packed, table = pack_cells([one, two])
    assert list(table) == [digest]
    assert [r.sha256 for r in packed[1].file_refs] == [digest, ""] and packed[1].files == []
    assert packed[1].file_refs[1].record is not None  # a file without a digest keeps its record inline
    for cell in packed:
        unpack_cell(cell, table.get)
    assert [f.path for f in packed[1].files] == ["work/two/model.weights.h5", "work/two/gone.h5"]
    assert packed[1].files[0].error == "'work/two/model.weights.h5' is odd"
    assert packed[1].files[0].arrays == one.files[0].arrays
    assert packed[0].files == one.files


def _results(cells: list[Cell]) -> Results:
    return Results(run=RunInfo(id="r1", started="2026-01-01T00:00:00Z"), cells=cells)


def _scenario_results(cells: list[Cell]) -> Results:
    from harness.evidence.model import PairingRecord, ScenarioRecord

    results = _results(cells)
    results.pairings = [PairingRecord(id="p1"), PairingRecord(id="p2")]
    results.scenarios = [ScenarioRecord(id="s", title="t", path="s.py", kind="cross")]
    return results


def test_results_keep_the_table_inside_up_to_the_budget_and_side_files_past_it(tmp_path: Path) -> None:
    digests = [f"{i:02x}" * 32 for i in range(6)]
    cells = [_cell(p, [_anatomy(f"work/{p}{i}/m.weights.h5", d, arrays=200) for i, d in enumerate(digests)]) for p in ("p1", "p2")]
    whole = json.dumps(to_dict(_scenario_results(cells)))
    one = len(json.dumps(to_dict(cells[0].files[0])))
    path = tmp_path / "results.json"
    write_results(path, _scenario_results(cells), inline_bytes=2 * one + 10)
    data = json.loads(path.read_text())
    assert data["schema"] == 2
    inline = [d for d, e in data["anatomies"].items() if e["record"] is not None]
    side = {d: e["side"] for d, e in data["anatomies"].items() if e["side"] is not None}
    assert len(inline) == 2 and len(side) == 4 and all(s == side_name(d) for d, s in side.items())
    assert all((tmp_path / s).is_file() for s in side.values())
    assert path.stat().st_size < len(whole) / 3  # the table is not repeated per cell
    back = read_results(path)
    assert [c.files for c in back.cells] == [c.files for c in cells]
    assert back.anatomies == {}


def test_a_missing_side_file_shows_the_file_with_an_error_and_a_forged_side_path_is_refused(tmp_path: Path) -> None:
    digest = "cd" * 32
    path = tmp_path / "results.json"
    write_results(path, _scenario_results([_cell("p1", [_anatomy("work/a/m.weights.h5", digest)])]), inline_bytes=0)
    (tmp_path / side_name(digest)).unlink()
    [cell] = read_results(path).cells
    assert cell.files[0].path == "work/a/m.weights.h5" and "missing" in (cell.files[0].error or "")
    data = json.loads(path.read_text())
    data["anatomies"][digest]["side"] = "../../etc/passwd"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match="names the side file"):
        read_results(path)


def test_results_of_schema_1_are_read_and_other_versions_refused_in_one_line(tmp_path: Path) -> None:
    cells = [_cell("p1", [_anatomy("work/a/m.weights.h5", None)])]
    old = to_dict(dataclasses.replace(_scenario_results(cells), schema=1))
    del old["anatomies"]
    for cell in old["cells"]:
        del cell["file_refs"]
        del cell["files"][0]["sha256"]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(old))
    assert read_results(path).cells[0].files[0].arrays == cells[0].files[0].arrays
    old["schema"] = 7
    path.write_text(json.dumps(old))
    with pytest.raises(ResultsError, match=r"schema version 7 is not supported; this harness reads schema 1 and 2\.$"):
        read_results(path)


def test_the_stored_form_does_not_change_the_results_in_memory() -> None:
    digest = "ef" * 32
    results = _scenario_results([_cell("p1", [_anatomy("work/a/m.weights.h5", digest)])])
    stored = stored_results(results, Path("/nonexistent"), inline_bytes=1 << 20)
    assert stored.cells[0].files == [] and results.cells[0].files[0].sha256 == digest


def test_past_the_budget_long_texts_go_to_side_files_and_come_back(tmp_path: Path) -> None:
    from harness.evidence.model import SaveRecord

    tail = "\n".join(f"line {i} of a long output" for i in range(400))
    cells = [dataclasses.replace(_cell(p, []), output_tail=tail, traceback="short", save=SaveRecord(output_tail=tail + "!"))
             for p in ("p1", "p2")]
    path = tmp_path / "results.json"
    write_results(path, _scenario_results(cells))  # within the budget: nothing moves
    assert not (tmp_path / "evidence").exists()
    write_results(path, _scenario_results(cells), budget=len(tail))
    data = json.loads(path.read_text())
    assert path.stat().st_size < len(tail)
    assert [s["field"] for s in data["cells"][0]["side_texts"]] == ["output_tail", "save.output_tail"]
    assert len(list((tmp_path / "evidence").glob("*.txt"))) == 2  # each distinct text once
    back = read_results(path)
    assert [(c.output_tail, c.traceback, c.save.output_tail if c.save else None) for c in back.cells] == [
        (tail, "short", tail + "!")] * 2


def test_scenarios_never_share_a_blob(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    one = _tree(tmp_path / "a", {"inputs.npy": b"same"})
    two = _tree(tmp_path / "b", {"inputs.npy": b"same"})
    [first], [second] = store.ingest(one, "scenario_a").files, store.ingest(two, "scenario_b").files
    assert first.sha256 == second.sha256
    assert os.stat(one / "inputs.npy").st_ino != os.stat(two / "inputs.npy").st_ino
    store.forget(first.sha256, "scenario_a")
    assert store.blob_path(second.sha256, "scenario_b").is_file()


def test_a_file_that_lives_elsewhere_too_is_copied_in_and_left_alone(tmp_path: Path) -> None:
    fixture = tmp_path / "fixture.h5"
    fixture.write_bytes(b"fixture bytes")
    fixture.chmod(0o644)
    save = tmp_path / "save"
    save.mkdir()
    os.link(fixture, save / "model.h5")  # the save linked a fixture from elsewhere
    BlobStore(tmp_path / "blobs").ingest(save, "s")
    assert os.stat(fixture).st_mode & 0o777 == 0o644
    assert os.stat(fixture).st_ino != os.stat(save / "model.h5").st_ino
    assert (save / "model.h5").read_bytes() == b"fixture bytes"


def test_a_write_with_its_times_put_back_is_caught(tmp_path: Path) -> None:
    source = _tree(tmp_path / "save", {"model.h5": b"0123456789"})
    digest = file_digest(source / "model.h5")
    [item] = link_tree(source, tmp_path / "work")
    assert item.changed(digest) is None
    before = os.stat(item.path)
    with open(item.path, "r+b") as handle:  # same size, then its times set back
        handle.write(b"X")
    os.utime(item.path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert item.changed(digest) is not None
    assert item.changed() is not None


def test_another_link_to_an_unchanged_file_is_no_write(tmp_path: Path) -> None:
    source = _tree(tmp_path / "save", {"model.h5": b"0123456789"})
    [item] = link_tree(source, tmp_path / "work")
    os.link(source / "model.h5", tmp_path / "another-load")  # a neighbour's load links it too: its ctime moves
    assert item.changed(file_digest(source / "model.h5")) is None
