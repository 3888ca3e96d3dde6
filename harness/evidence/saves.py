"""Cross-version saves: what a save left behind, kept with a content hash, and saves imported from
an earlier run (``--load-artifacts RUN_DIR``).

A save lives in ``artifacts/<scenario>/<pairing>/``: ``files/`` (what ``save(workdir)`` wrote,
never modified afterwards: its files are read-only hard links to the run folder's
content-addressed blobs, :mod:`harness.evidence.blobs`, listed in ``manifest.json``; loads read
them through links of their own, or a private copy for a ``LOAD_WRITES`` scenario),
``reference.json`` / ``reference.npz`` (the values ``save`` returned) and ``save.json`` (how the
save ended, with the sha256 of ``files/``). An imported run folder is untrusted: anything that is not a regular file, a hash
that does not match, or a record that does not check out is refused with one sentence, and
nothing is read outside it or written outside this run's folder. Trees are walked, copied and
removed without recursion (:mod:`harness.paths`): a save may leave a tree of any depth.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from harness.errors import ResultsError
from harness.evidence.blobs import MANIFEST_FILE, Manifest, read_manifest, write_manifest
from harness.evidence.codec import build_model, read_json_file, to_dict, write_json_atomic
from harness.evidence.model import SAFE_ID, PairingRecord, SaveRecord
from harness.evidence.phase import PhaseOutcome
from harness.evidence.records import save_outcome, save_record
from harness.evidence.run_folder import RunStore, SaveFolder, hash_tree
from harness.paths import copy_tree, remove_tree, walk_tree
from harness.plan.scenarios import Scenario


@dataclass
class SaveState:
    """How a cross-version scenario's save ended in one pairing (or why it did not run)."""

    unmet: str | None = None
    outcome: PhaseOutcome | None = None
    evidence: SaveRecord | None = None


def record_save(store: RunStore, scenario: Scenario, pairing_id: str, outcome: PhaseOutcome,
                reused_from: str | None = None) -> SaveState:
    """Write save.json (with the content hash of files/) and return the save's state
    (``reused_from``: the earlier run whose save the cell cache gave back).

    Files that cannot be hashed (a tree deeper than the harness walks, a folder the save locked)
    get an empty hash, which no tree matches: such a save is made again on ``--resume``, and the
    loads that cannot copy it are each their own cell's error.
    """
    folder = store.save_folder(scenario.id, pairing_id)
    evidence = save_record(outcome, scenario, pairing_id, store.relative(folder.files), _hash_or_empty(folder.files))
    evidence.reused_from = reused_from
    if evidence.sha256:
        store_blobs(store, folder, scenario.id)
    write_json_atomic(folder.record, to_dict(evidence))
    return SaveState(outcome=outcome, evidence=evidence)


def store_blobs(store: RunStore, folder: SaveFolder, scenario_id: str) -> Manifest | None:
    """Keep a save's files in the run's blob store of its scenario (each file a link to its blob)
    and write its manifest; None when they cannot be (the files then stay as they are, as plain
    files)."""
    try:
        manifest = store.blobs.ingest(folder.files, scenario_id)
        write_manifest(folder.root / MANIFEST_FILE, manifest)
    except OSError:
        return None
    return manifest


def save_manifest(folder: SaveFolder) -> Manifest | None:
    """The manifest of a save's files (None for a save stored without one)."""
    return read_manifest(folder.root / MANIFEST_FILE)


def read_save_record(folder: SaveFolder) -> SaveRecord:
    """A save.json, checked like every untrusted record."""
    record: SaveRecord = build_model(SaveRecord, read_json_file(folder.record, "save record"), str(folder.record))
    return record


def existing_save(store: RunStore, scenario: Scenario, pairing_id: str, same_text: bool = True) -> SaveState | None:
    """The save this run already made (or imported) for a scenario and pairing, if it is intact.

    Used when a run is resumed. A save is made again when its record is missing or unreadable,
    when it did not end by itself (killed, timed out, interrupted: only a save that returned or
    raised is final), when it came from another text of the scenario (``same_text``; not asked
    of saves imported from other runs), or when its files no longer match their hash.
    """
    folder = store.save_folder(scenario.id, pairing_id)
    try:
        _refuse_links(folder.root)
        evidence = read_save_record(folder)
    except (ResultsError, OSError):
        return None
    if evidence.status != "done" or (same_text and evidence.scenario_sha256 != scenario.sha256):
        return None
    if not folder.files.is_dir() or not evidence.sha256 or _hash_or_empty(folder.files) != evidence.sha256:
        return None
    if evidence.ok and not folder.reference_index.is_file():
        return None
    return SaveState(outcome=save_outcome(evidence), evidence=evidence)


@dataclass
class ImportedSaves:
    """Saves taken from earlier runs: the pairings that made them and each save's state."""

    pairings: list[PairingRecord]
    saves: dict[tuple[str, str], SaveState]


def import_saves(
    run_dirs: Sequence[Path], scenarios: Sequence[Scenario], store: RunStore | None, taken: set[str]
) -> ImportedSaves:
    """Copy the cross-version saves of earlier runs into ``store`` after checking them (with no
    ``store``, only check them: done before anything is created).

    A saving pairing keeps its id unless this run already has one of that name; then it becomes
    ``<id>@<run id>``. Raises :class:`ResultsError` for anything that does not check out.
    """
    imported = ImportedSaves(pairings=[], saves={})
    cross = [s for s in scenarios if s.kind == "cross"]
    for run_dir in run_dirs:
        source = RunStore.open(_checked_dir(run_dir))
        run, pairings, _ = source.read_meta()
        if not SAFE_ID.match(run.id):
            raise ResultsError(f"{run_dir}: run id {run.id!r} is not a plain name.")
        for record in pairings:
            new_id = record.id if record.id not in taken else f"{record.id}@{run.id}"
            if new_id in taken:
                raise ResultsError(f"{run_dir}: the saves of pairing {record.id!r} of run {run.id} are already loaded.")
            found = False
            for scenario in cross:
                folder = source.save_folder(scenario.id, record.id)
                if not folder.root.exists():
                    continue
                state = _import_one(folder, scenario, store, new_id)
                imported.saves[(scenario.id, new_id)] = state
                found = True
            if found:
                taken.add(new_id)
                imported.pairings.append(replace(record, id=new_id, source=f"{run.id} ({run_dir})"))
    return imported


def _import_one(folder: SaveFolder, scenario: Scenario, store: RunStore | None, new_id: str) -> SaveState:
    """Check one imported save; with a ``store``, copy it in (else only check)."""
    _refuse_links(folder.root)
    evidence = read_save_record(folder)
    if not folder.files.is_dir():
        raise ResultsError(f"{folder.root}: the saved files are missing.")
    if not evidence.sha256:
        raise ResultsError(f"{folder.files}: the saved files have no content hash (they could not be read when saved).")
    if hash_tree(folder.files) != evidence.sha256:
        raise ResultsError(f"{folder.files}: the files changed after they were saved (content hash differs).")
    if evidence.ok and not folder.reference_index.is_file():
        raise ResultsError(f"{folder.root}: the reference values of a successful save are missing.")
    if store is None:
        return SaveState(outcome=save_outcome(evidence), evidence=evidence)
    target = store.save_folder(scenario.id, new_id)
    remove_tree(target.root)
    copy_tree(folder.root, target.root)
    (target.root / MANIFEST_FILE).unlink(missing_ok=True)  # the source's own is not trusted: made again
    store_blobs(store, target, scenario.id)
    evidence = replace(evidence, pairing=new_id, artifact=store.relative(target.files), imported_from=str(folder.root))
    write_json_atomic(target.record, to_dict(evidence))
    return SaveState(outcome=save_outcome(evidence), evidence=evidence)


def _checked_dir(path: Path) -> Path:
    if path.is_symlink() or not path.is_dir():
        raise ResultsError(f"{str(path)!r} is not a run folder.")
    return path


def _hash_or_empty(files: Path) -> str:
    try:
        return hash_tree(files)
    except OSError:
        return ""


def _refuse_links(folder: Path) -> None:
    """Refuse symlinks, special files and trees deeper than the harness walks, anywhere below an
    imported save."""
    if folder.is_symlink():
        raise ResultsError(f"{folder}: a symbolic link in an artifact folder is refused.")
    try:
        for item in walk_tree(folder):
            if item.kind == "link":
                raise ResultsError(f"{item.path}: a symbolic link in an artifact folder is refused.")
            if item.kind == "other":
                raise ResultsError(f"{item.path}: only regular files and folders may be in an artifact folder.")
    except OSError as exc:
        raise ResultsError(f"{exc.filename or folder}: the artifact folder cannot be read ({exc.strerror}).") from None
