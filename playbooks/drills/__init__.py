"""Game-day drills: expected outcomes per fault and the scoring of a drill's incident."""

from playbooks.drills.scoring import Expectation, expectation_for, score_drill

__all__ = ["Expectation", "expectation_for", "score_drill"]
