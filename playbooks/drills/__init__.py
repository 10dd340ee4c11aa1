"""Game-day drills: expected outcomes per fault and the scoring of a drill's incident.

``playbooks.drills.live`` plays a drill's live monitoring out on its sandbox (it imports the
sandbox, so it is not re-exported here: scoring needs neither MLflow nor sklearn).
"""

from playbooks.drills.scoring import Expectation, expectation_for, live_outcome, score_drill

__all__ = ["Expectation", "expectation_for", "live_outcome", "score_drill"]
