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


# --------------------------------------------------------------------------- the default matrix's shape

#: The seed scenario: the case the harness was built around, tagged "seed".
SEED = "gru_weights_into_grucell"
#: A clause found only at the very end of a long Keras message (and in its traceback's first exception).
DEEP_CAUSE = "GlorotUniform.__init__() got an unexpected keyword argument 'input_axes'"
#: Found only in the traceback of the cells that carry it, never in a message.
TRACEBACK_ONLY = "deep_frame_only_in_the_traceback"
DEFAULT_KERAS = ("3.5.0", "3.6.0", "3.15.1")


def keras_config_error() -> tuple[str, str]:
    """A message and traceback like Keras's when a .keras file from a newer version does not load:
    a generic sentence, a config dump of about 20,000 characters, the cause at the very end, and a
    chained traceback whose first exception is the cause."""
    dump = "config={" + ", ".join(f"'layer_{i}': {{'units': {i}, 'activation': 'linear'}}" for i in range(420)) + "}"
    message = ("<class 'keras.src.models.functional.Functional'> could not be deserialized properly. Please ensure "
               "that components that are Python object instances (layers, models, etc.) returned by `get_config()` "
               f"are explicitly deserialized in the model's `from_config()` method.\n\n{dump}.\n\n"
               f"Exception encountered: {DEEP_CAUSE}")
    traceback = (
        "Traceback (most recent call last):\n"
        f'  File "/envs/k/keras/src/initializers/initializer.py", line 81, in {TRACEBACK_ONLY}\n'
        "    return cls(**config)\n"
        f"TypeError: {DEEP_CAUSE}\n\n"
        "During handling of the above exception, another exception occurred:\n\n"
        "Traceback (most recent call last):\n"
        '  File "/envs/k/keras/src/saving/serialization_lib.py", line 718, in deserialize_keras_object\n'
        "    instance = cls.from_config(inner_config)\n"
        f"TypeError: {message}\n"
    )
    return message, traceback


#: (id, tags, verdicts on 3.5.0 / 3.6.0 / 3.15.1) of the single-env scenarios; "P" passed,
#: "R" reproduced, "W" wrong values, "E" another error.
_RUN_ROWS: list[tuple[str, tuple[str, ...], str]] = [
    ("gru_get_set_weights_into_grucell", ("seed", "rnn", "workaround"), "PPP"),
    ("gru_legacy_h5_into_grucell", ("seed", "rnn", "formats"), "PPP"),
    (SEED, ("seed", "rnn", "cell"), "RRR"),
    ("gru_weights_remapped_into_grucell", ("seed", "rnn", "workaround"), "PPP"),
    ("formats_mixed_model_legacy_h5", ("formats", "rnn"), "WPP"),
    ("normalization_legacy_h5_load_model", ("normalization", "formats"), "WPP"),
    ("legacy_h5_by_name_top_level_weight_mismatch", ("rename", "formats"), "RRP"),
    ("renamed_layers_legacy_h5_by_name", ("rename", "formats"), "EEW"),
    ("custom_layer_nested_list_keras_roundtrip", ("subclass", "nested"), "WWP"),
    ("unbuilt_subclassed_model_load_weights", ("subclass",), "WWE"),
] + [
    (f"{tag}_case_{i}", (tag,), pattern)
    for i, (tag, pattern) in enumerate(
        [("rnn", "PPP"), ("rnn", "RRR"), ("rnn", "PPP"), ("rnn", "RRR"), ("rnn", "WWW"), ("subclass", "PPP"),
         ("subclass", "RRR"), ("subclass", "WWW"), ("formats", "PPP"), ("formats", "RRR"), ("nested", "PPP"),
         ("nested", "PPP"), ("normalization", "PPP"), ("normalization", "PPP"), ("normalization", "PPP"),
         ("optimizer", "PPP"), ("optimizer", "RRR"), ("optimizer", "PPP"), ("rename", "PPP"), ("rename", "PPP"),
         ("cell", "PPP"), ("cell", "RRR"), ("formats", "PPP"), ("rnn", "PPP"), ("subclass", "PPP"), ("nested", "PPP"),
         ("formats", "PPP")])
]
#: Cross-version scenarios whose own saves load; files from 3.15.1 fail in older versions when "newer_fails".
_CROSS_ROWS: list[tuple[str, tuple[str, ...], str, bool]] = [
    ("gru_keras_file_roundtrip", ("seed", "rnn", "cross"), "P", True),
    ("gru_weights_h5_cross_version", ("seed", "rnn", "cross"), "P", False),
    ("gru_weights_into_grucell_cross_version", ("seed", "rnn", "cross"), "R", False),
    ("bidirectional_lstm_cross_version", ("rnn", "wrapper", "cross"), "P", True),
    ("normalization_adapted_cross_version", ("normalization", "cross"), "P", True),
]
_KERAS2_ROWS = [f"keras2_case_{i}" for i in range(6)]
_LETTERS = {"P": "passed", "R": "reproduced", "W": "wrong_values", "E": "error"}


def default_matrix_results() -> Results:
    """Results shaped like a run of the default matrix: 48 scenarios × 3 pairings (keras 3.5.0,
    3.6.0, 3.15.1), 37 single-env scenarios and 11 cross-version ones (5 with 3×3 grids, 6 written
    by Keras 2 and so skipped on every pairing), 7 of them tagged "seed", long Keras messages
    with their cause at the end; 144 matrix cells and 66 cross-version cells."""
    records = [pairing(v, "2.16.1" if v != "3.15.1" else "2.21.0") for v in DEFAULT_KERAS]
    scenarios, cells = [], []
    for sid, tags, pattern in _RUN_ROWS:
        scenarios.append(_scenario(sid, tags, "run"))
        cells += [_default_cell(sid, p.id, None, _LETTERS[letter]) for p, letter in zip(records, pattern)]
    for sid, tags, own, newer_fails in _CROSS_ROWS:
        scenarios.append(_scenario(sid, tags, "cross"))
        for saver in records:
            for loader in records:
                verdict = _LETTERS[own]
                if newer_fails and saver.id != loader.id and _keras(saver) > _keras(loader):
                    verdict = "error"
                cells.append(_default_cell(sid, loader.id, saver.id, verdict))
    for sid in _KERAS2_ROWS:
        scenarios.append(_scenario(sid, ("cross", "keras2"), "cross", save_requires={"keras": "<3"}))
        cells += [Cell(scenario=sid, pairing=loader.id, saved_with=saver.id, verdict="skipped", duration_s=0.0,
                       reason=f"the saving pairing {saver.id} does not save it: SAVE_REQUIRES keras<3, but the env "
                              f"has keras {saver.versions['keras']}")
                  for saver in records for loader in records]
    scenarios.sort(key=lambda s: s.id)
    return Results(
        run=RunInfo(id="default0", started="2026-12-01T23:19:09Z", finished="2026-12-01T23:22:48Z", duration_s=219.0,
                    python="3.11.7", platform="Linux", command=["python", "-m", "harness", "matrix"], complete=True,
                    options={"cross": "all"}),
        pairings=records, scenarios=scenarios, cells=cells,
    )


def _scenario(sid: str, tags: tuple[str, ...], kind: str, save_requires: dict[str, str] | None = None) -> ScenarioRecord:
    return ScenarioRecord(id=sid, title=f"What a user did: {sid.replace('_', ' ')}", path=f"/work/scenarios/{sid}.py",
                          kind=kind, links=["https://github.com/keras-team/keras/issues/20407"],
                          signature=r"(?s)ValueError: .*expected \d+ variables, but received 0 variables",
                          tags=list(tags), requires={"keras": ">=3.0"}, save_requires=save_requires)


def _default_cell(scenario: str, loader: str, saver: str | None, verdict: str) -> Cell:
    cell = Cell(scenario=scenario, pairing=loader, saved_with=saver, verdict=verdict, duration_s=1.1,
                started="2026-12-01T23:19:20Z", output_tail="", compared=verdict in ("passed", "wrong_values"),
                max_abs_diff={"passed": 0.0, "wrong_values": 0.56}.get(verdict))
    if verdict == "reproduced":
        cell.exception_type = "ValueError"
        cell.message = ("A total of 2 objects could not be loaded. Example error message for object <GRUCell "
                        "name=gru_cell, built=True>:\n\nLayer 'gru_cell' expected 3 variables, but received 0 "
                        "variables during loading. Expected: ['kernel', 'recurrent_kernel', 'bias']")
        cell.traceback = f"Traceback (most recent call last):\n  File \"x.py\", line 1, in run\nValueError: {cell.message}\n"
        cell.reason = "run raised the signature: ValueError: A total of 2 objects could not be loaded."
    elif verdict == "error":
        cell.exception_type = "TypeError"
        cell.message, cell.traceback = keras_config_error()
        cell.reason = "load raised TypeError: <class 'keras.src.models.functional.Functional'> could not be deserialized properly."
    elif verdict == "wrong_values":
        cell.reason = "ran clean but values differ: values of '/' differ (max abs diff 0.56)"
    else:
        cell.reason = "ran clean; 16 values compared, max abs diff 0"
    return cell


# --------------------------------------------------------------------------- a run of a user's own model

#: The root cause of a .keras file written by a newer Keras failing to load in an older one.
OWN_CAUSE = "Unrecognized keyword arguments passed to Dense: {'quantization_config': None}"
OWN_MODEL = "/home/me/project/mymodel.py:build"


def own_load_error() -> tuple[str, str]:
    """A message and traceback like Keras 3.5.0's when it loads a .keras file from 3.15.1: the
    raised TypeError wraps a config dump; the chain's first exception is the cause."""
    dump = "config={'module': 'keras.layers', 'class_name': 'Dense', 'config': {'name': 'dense', 'units': 8, " \
           "'activation': 'relu', 'quantization_config': None}, 'registered_name': None}"
    message = ("<class 'keras.src.layers.core.dense.Dense'> could not be deserialized properly. Please ensure that "
               "components that are Python object instances (layers, models, etc.) returned by `get_config()` are "
               f"explicitly deserialized in the model's `from_config()` method.\n\n{dump}.\n\n"
               f"Exception encountered: {OWN_CAUSE}")
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/envs/k/keras/src/ops/operation.py", line 234, in from_config\n'
        "    return cls(**config)\n"
        f"ValueError: {OWN_CAUSE}\n\n"
        "During handling of the above exception, another exception occurred:\n\n"
        "Traceback (most recent call last):\n"
        '  File "/envs/k/keras/src/saving/serialization_lib.py", line 718, in deserialize_keras_object\n'
        "    instance = cls.from_config(inner_config)\n"
        f"TypeError: {message}\n"
    )
    return message, traceback


def own_model_results(keras: tuple[str, ...] = DEFAULT_KERAS, command: list[str] | None = None) -> Results:
    """Results shaped like ``matrix --model mymodel.py:build`` on the given Keras versions: the
    FORMATS scenario's three formats and the SavedModel export, each an N × N grid. A .keras file
    from the newest Keras fails in every older one (a TypeError whose root cause is
    :data:`OWN_CAUSE`); the legacy .h5 from the newest loads wrong values in the oldest; the
    rest pass with Δ 0."""
    records = [pairing(v, "2.21.0" if v == "3.15.1" else "2.16.1") for v in keras]
    folder = "/home/me/project/reports/runs/own1/scenarios"
    title = "mymodel.build: saved in three formats, loaded in every pairing"
    scenarios = [ScenarioRecord(id=f"mymodel_formats[{fmt}]", title=title, path=f"{folder}/mymodel_formats.py", kind="cross",
                                tags=["model", "formats"], format=fmt) for fmt in ("keras", "weights_h5", "legacy_h5")]
    scenarios.append(ScenarioRecord(id="mymodel_saved_model", title="mymodel.build: its SavedModel export, read by tf.saved_model",
                                    path=f"{folder}/mymodel_saved_model.py", kind="cross", tags=["model", "saved-model"]))
    message, traceback = own_load_error()
    cells = []
    for scenario in scenarios:
        for saver in records:
            save = SaveRecord(status="done", pairing=saver.id, ok=True, artifact=f"artifacts/{scenario.id}/{saver.id}",
                              sha256="cd" * 32)
            for loader in records:
                older = _keras(loader) < _keras(saver)
                cell = Cell(scenario=scenario.id, pairing=loader.id, saved_with=saver.id, verdict="passed", duration_s=2.5,
                            reason="ran clean; 58 values compared, max abs diff 0", compared=True, max_abs_diff=0.0, save=save,
                            started="2026-12-02T09:00:00Z")
                if scenario.format == "keras" and older and saver is records[-1]:
                    cell.verdict, cell.compared, cell.max_abs_diff = "error", False, None
                    cell.exception_type, cell.message, cell.traceback = "TypeError", message, traceback
                    cell.reason = f"load raised TypeError: {message.splitlines()[0][:300]}"
                elif scenario.format == "legacy_h5" and saver is records[-1] and loader is records[0]:
                    cell.verdict, cell.max_abs_diff = "wrong_values", 0.31
                    cell.reason = "ran clean but values differ: values of 'outputs' differ (max abs diff 0.31)"
                cells.append(cell)
    pairing_words = [w for r in records for w in ("--pairing", r.requested.spec)]
    return Results(
        run=RunInfo(id="own1", started="2026-12-02T09:00:00Z", finished="2026-12-02T09:04:10Z", duration_s=250.0,
                    python="3.11.7", platform="Linux",
                    command=command if command is not None else ["keras-compat", "matrix", "--model", OWN_MODEL, *pairing_words],
                    complete=True, options={"cross": "all"}),
        pairings=records, scenarios=scenarios, cells=cells,
    )
