"""Golden-file test: regenerate each report from the committed quick-profile records and compare
the Markdown with the committed expected page (tests/golden/<experiment>.md)."""

from pathlib import Path

import pytest

from benchmarks.registry import EXPERIMENTS
from benchmarks.report import write_report
from benchmarks.runner import REPO_ROOT, sweep_state

GOLDEN = Path(__file__).parent / "golden"
COMMITTED = sorted(p.stem for p in GOLDEN.glob("*.md"))


def test_every_committed_quick_result_has_a_golden_page():
    with_records = sorted(p.parent.name for p in (REPO_ROOT / "results").glob("*/quick")
                          if any(p.glob("*.json")))
    assert with_records == COMMITTED


@pytest.mark.parametrize("name", COMMITTED)
def test_report_regenerates_identically(name, tmp_path):
    exp = EXPERIMENTS.get(name)
    state = sweep_state(exp, "quick", REPO_ROOT / "results")
    assert state.records, f"no committed quick records for {name}"
    assert not state.corrupt, state.errors
    md = write_report(exp, state.records, "quick", tmp_path,
                      missing=len(state.missing) + len(state.corrupt))
    assert md.read_text() == (GOLDEN / f"{name}.md").read_text()
    for line in md.read_text().splitlines():
        if line.startswith("!["):
            assert (tmp_path / line.split("](")[1].rstrip(")")).is_file()
