"""summary.md rendered by GitHub's own Markdown (cmark-gfm), and the terminal table."""

from __future__ import annotations

import io

import cmarkgfm
from cmarkgfm.cmark import Options

from harness.commands.bench import synthetic_results
from harness.report.model import build_report
from harness.report.render import SUMMARY_BYTES, SUMMARY_CUT, md_escape, render_markdown
from harness.report.terminal import print_summary, summary_lines, width
from support.pages import github
from support.reportdata import HOSTILE, SEED, default_matrix_results, sample_results


def test_summary_md_has_the_pages_orientation() -> None:
    model = build_report(default_matrix_results())
    rendered = github(render_markdown(model))
    matrix = rendered.tables[0]
    assert [c.strip() for c in matrix[0]] == ["scenario", "keras 3.5.0", "keras 3.6.0", "keras 3.15.1", "what it says"]
    ids = [row[0].strip() for row in matrix[1:]]
    shown = [r.scenario.id for g in model.groups for r in g.rows]
    groups = [g.title for g in model.groups]
    assert [i for i in ids if i not in groups and "skipped on every pairing" not in i] == shown
    assert ids[0] == "seed (pinned)" and SEED in ids[:8]
    seed_row = matrix[1 + ids.index(SEED)]
    assert [c.strip() for c in seed_row[1:]] == ["● reproduced"] * 3 + ["reproduced on all 3"]
    assert "6 scenarios skipped on every pairing" in ids[-1]
    assert "SAVE_REQUIRES keras<3 fits no pairing" in matrix[-1][-1]
    assert len(rendered.tables) == 1 + len(model.grids)  # the grids, folded in <details>
    assert "details" in rendered.tags


def test_summary_md_is_escaped_for_markdown_not_html() -> None:
    results = sample_results()
    results.run.platform = "GRU layer's loss=\"mse\" Dense -> GRUCell *not bold* @keras $x$ " + HOSTILE
    text = render_markdown(build_report(results))
    for entity in ("&#39;", "&#34;", "&quot;", "&gt;", "&lt;", "&amp;amp;"):
        assert entity not in text, entity
    rendered = "".join(github(text).text)
    assert "GRU layer's loss=\"mse\" Dense -> GRUCell *not bold* @keras $x$ " + HOSTILE in rendered
    html = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    assert "<script>" not in html and "<img" not in html and "<em>" not in html
    assert md_escape("a|b") == "a\\|b" and md_escape("two\nlines") == "two lines"


def test_summary_md_stays_under_the_1_mib_job_summary_limit() -> None:
    """GitHub refuses a job summary over 1 MiB: summary.md is cut before that, with a note, and
    an open <details> is closed."""
    big = render_markdown(build_report(synthetic_results(scenarios=50, pairings=40)))
    assert len(big.encode()) < SUMMARY_BYTES
    model = build_report(default_matrix_results())
    whole = render_markdown(model)
    for limit in (whole.encode().index(b"<details>") + 300, len(whole.encode()) // 2):
        cut = render_markdown(model, limit=limit)
        assert len(cut.encode()) <= limit and SUMMARY_CUT in cut
        assert cut.count("<details>") == cut.count("</details>")
        assert whole.startswith(cut.split(SUMMARY_CUT)[0])
    assert render_markdown(model, limit=len(whole.encode())) == whole


def test_the_terminal_table_computes_its_column_widths() -> None:
    results = default_matrix_results()
    for cell in results.cells:
        if cell.verdict == "error":
            cell.exception_type = "keras.src.saving.AVeryLongExceptionNameError"
    lines = summary_lines(build_report(results))
    header = lines[0]
    starts = [header.index(label) for label in ("keras 3.5.0", "keras 3.6.0", "keras 3.15.1", "what it says")]
    rows = [line for line in lines[2:] if line and not line.startswith("-- ") and "skipped on every" not in line][:48]
    for line in rows[:40]:
        for start in starts:
            assert line[start - 2:start] == "  " and line[start] != " ", (line, start)
    long = next(line for line in rows if "AVeryLongExceptionNameError" in line)
    assert width(long.split("  ")[0]) <= starts[0]
    assert width("●✓≠") == 3 and width("全") == 2


def test_the_terminal_summary_has_the_pages_order_grids_and_counts() -> None:
    out = io.StringIO()
    print_summary(sample_results(), out)
    lines = out.getvalue().splitlines()
    start = lines.index("cross_one: saved with (rows) -> loaded with (columns)")
    header, rows = lines[start + 1], lines[start + 2:start + 5]
    assert header.split() == ["keras", "3.5.0", "keras", "3.6.0", "keras", "3.15.1"]
    assert rows[0].split()[:2] == ["keras", "3.5.0"] and rows[0].count("Δ 0") == 3
    assert rows[2].split()[:2] == ["keras", "3.15.1"] and rows[2].count("! error") == 2
    assert lines[-1].startswith("12 matrix cells: ") and "; 6 cross-version cells: " in lines[-1]
    assert "-- differs across versions --" in lines and not [line for line in lines if line.startswith("[")]
