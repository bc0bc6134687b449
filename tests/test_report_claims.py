"""The claims section of a page: every claim that is not supported says why, or says plainly that
its cause has not been examined."""

from benchmarks.experiment import Experiment
from benchmarks.report import NO_CONTEXT, claim_context_lines


class _Exp(Experiment):
    claim_context = {"C2": "budget: the learning curve still rises at the last checkpoint"}


def test_only_claims_not_supported_get_a_reason_and_a_missing_reason_is_said():
    verdicts = [("C1", "a", "supported", "e"), ("C2", "b", "contradicted", "e"),
                ("C3", "c", "inconclusive", "e")]
    lines = claim_context_lines(_Exp(), verdicts)
    assert lines[0].startswith("**Why not supported**")
    assert "- C2 (contradicted): budget: the learning curve still rises at the last checkpoint" in lines
    assert f"- C3 (inconclusive): {NO_CONTEXT}" in lines
    assert not any(line.startswith("- C1") for line in lines)
    assert claim_context_lines(_Exp(), verdicts[:1]) == []
