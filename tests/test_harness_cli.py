"""``saub-bench list | status | run | report`` end to end on toy sweeps and a tiny fig3."""

from __future__ import annotations

import re

import pytest

from benchmarks.cli import main, only_absent, parse_seeds
from benchmarks.config import ConfigError
from benchmarks.contracts import Budget
from benchmarks.experiment import Profile
from benchmarks.registry import EXPERIMENTS, METHODS, METRICS, TASKS
from benchmarks.runner import record_path
from saub.objective_axis import OBJECTIVES
from tests.harness_toys import harness_isolation  # noqa: F401

GRID = "toy-harness-grid"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_list_prints_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    sections = {}
    current = None
    for line in out.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            current = line[:-1]
            sections[current] = []
        elif line.startswith("  ") and current:
            sections[current].append(line.split()[0])
    assert sections["experiments"] == EXPERIMENTS.names()
    assert sections["methods"] == METHODS.names()
    assert sections["tasks"] == TASKS.names()
    assert sections["metrics"] == METRICS.names()
    assert sections["objectives"] == list(OBJECTIVES)
    for name in ("fig3", "saub", "vaub", "nested-d", "svc-auroc", "toy-harness-grid", "toy-harness", "fd-m1"):
        assert re.search(rf"^  {re.escape(name)} +\S", out, re.M), name  # every entry has a description
    assert "profiles: smoke, quick, paper; executors: serial, processes, ray" in out


@pytest.mark.parametrize("text,expected", [("0-2", [0, 1, 2]), ("3,1,1", [1, 3]), ("0-1,4", [0, 1, 4]),
                                           (None, None), ("7", [7])])
def test_parse_seeds(text, expected):
    assert parse_seeds(text) == expected


@pytest.mark.parametrize("text", ["a", "1-", "-1", "0-x", "1,,2"])
def test_parse_seeds_rejects_garbage(text):
    with pytest.raises(ConfigError, match="--seeds"):
        parse_seeds(text)


def test_status_counts_done_failed_missing_corrupt(tmp_path, capsys):
    results = tmp_path / "results"
    args = ["--profile", "smoke", "--results", str(results)]
    assert main(["status", GRID, *args]) == 0
    assert "done 0, failed 0, missing 16, corrupt 0" in capsys.readouterr().out
    assert not results.exists()  # status writes nothing

    assert main(["run", GRID, "--seeds", "0", "--quiet", *args]) == 1  # failed cells: exit 1, said last
    out = capsys.readouterr().out
    assert "8 of 8 cells to run" in out and "done 2, failed 6, missing 0, corrupt 0" in out
    assert out.splitlines()[-1].endswith("6 cells did not finish")
    ok = next(c for c in EXPERIMENTS.get(GRID).cells("smoke", [0]) if c.label == "ok")
    path = record_path(results, ok)
    path.write_text(path.read_text()[:100])

    assert main(["status", GRID, *args]) == 0
    out = capsys.readouterr().out
    assert f"{GRID} [smoke]: done 1, failed 6, missing 8, corrupt 1" in out
    lines = out.splitlines()[1:]
    assert sum(line.startswith("  failed ") for line in lines) == 6
    assert sum(line.startswith("  missing ") for line in lines) == 8
    assert [line.split()[1] for line in lines if line.startswith("  corrupt ")] == [ok.cell_id]
    assert any("toy-harness method failed on purpose" in line for line in lines)
    assert any("DivergenceError" in line for line in lines)
    assert any("non-finite metrics: toy_score" in line for line in lines)
    assert main(["status", GRID, "--seeds", "0", *args]) == 0
    assert "done 1, failed 6, missing 0, corrupt 1" in capsys.readouterr().out


def _absent_pages(profile: str) -> list[str]:
    """Pages ``report --all`` writes without records: experiments whose whole grid needs absent data
    (e.g. fig15 without FairFace), each saying "data absent"."""
    exps = {name: EXPERIMENTS.get(name) for name in EXPERIMENTS.names()}
    return sorted(f"{name}.md" for name, exp in exps.items()
                  if profile in exp.profiles and only_absent(exp, profile))


def test_report_all_skips_experiments_without_the_profile(tmp_path, capsys):
    out_dir = tmp_path / "reports"
    assert main(["report", "--all", "--profile", "quick", "--results", str(tmp_path / "r"),
                 "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "toy-harness-grid: no profile quick; skipped" in out
    assert "fig3: no records for profile quick" in out
    assert sorted(p.name for p in out_dir.glob("*.md")) == _absent_pages("quick")


def test_report_without_records_says_what_to_run(tmp_path, capsys):
    out_dir = tmp_path / "reports"
    assert main(["report", "fig3", "--profile", "smoke", "--results", str(tmp_path / "r"),
                 "--out", str(out_dir)]) == 0
    assert "no records for profile smoke; run `saub-bench run fig3 --profile smoke` first" in \
        capsys.readouterr().out
    assert not (out_dir / "fig3.md").exists()


@pytest.mark.slow
def test_fig3_report_from_tiny_smoke_records(tmp_path, monkeypatch, capsys):
    """fig3's smoke grid shrunk to two priors and a 5-step budget: run, then report."""
    fig3 = EXPERIMENTS.get("fig3")
    sweep = "task.n_per_domain"
    monkeypatch.setattr(fig3, "rows", [r for r in fig3.rows if r.label in ("saub", "vaub")])
    tiny = Profile(Budget(steps=5, batch_size=64), seeds=1, sweep={sweep: (20, 100)},
                   method_overrides={"prior_steps": 1}, task_kwargs={"n_test_per_domain": 20})
    monkeypatch.setattr(fig3, "profiles", {**fig3.profiles, "smoke": tiny})
    results, out_dir = tmp_path / "results", tmp_path / "reports"
    args = ["--profile", "smoke", "--results", str(results)]
    assert main(["run", "fig3", "--seeds", "0", "--quiet", *args]) == 0
    assert "done 4, failed 0, missing 0, corrupt 0" in capsys.readouterr().out
    assert main(["report", "fig3", *args, "--out", str(out_dir)]) == 0
    assert f"fig3: wrote {out_dir / 'fig3.md'}" in capsys.readouterr().out

    md = (out_dir / "fig3.md").read_text()
    assert md.startswith("# fig3: latent label separation")
    assert "Profile **smoke**; seeds [0]; 4 finished cells, 0 failed, 0 missing." in md
    assert "## Claims" in md and "## Provenance" in md and "- records: 4;" in md
    for claim in fig3.claims:
        row = next(line for line in md.splitlines() if line.startswith(f"| {claim.id} |"))
        assert "**inconclusive**" in row, row  # one seed decides nothing
    table = [line for line in md.splitlines() if line.startswith("| SFS (ours)") or line.startswith("| MoG")]
    assert len(table) == 4  # 2 priors x 2 n
    assert any(line.startswith("| raw inputs (no model) | 20") for line in md.splitlines())
    assert "paper (§5.1 text)" in md and "95% CI" in md

    tex = (out_dir / "fig3.tex").read_text()
    # the results table and the regime diagnostics (fig3 records carry diagnostics)
    assert tex.count(r"\begin{table}") == 2 and r"\toprule" in tex and "SFS (ours)" in tex
    assert "### Regime diagnostics" in md

    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert set(figures) == {"figures/fig3_auroc.png", "figures/fig3_latents.png",
                            "figures/fig3_translations_n20.png", "figures/fig3_translations_n100.png"}
    for rel in figures:
        data = (out_dir / rel).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, rel

    # --all reports every experiment that has records and skips the others
    assert main(["report", "--all", *args, "--out", str(tmp_path / "all")]) == 0
    out = capsys.readouterr().out
    assert "fig3: wrote" in out and "fig1: no records for profile smoke" in out
    written = sorted(p.name for p in (tmp_path / "all").glob("*.md"))
    assert written == sorted(["fig3.md", *_absent_pages("smoke")])
