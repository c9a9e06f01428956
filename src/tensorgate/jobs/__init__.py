"""Offline batch scoring: ``run`` a job locally, on Ray or on Spark; resumable.

``run(model, inputs, output)`` is what ``tensorgate batch`` calls. ``Scorer`` and
``score_partition`` / ``score_frame`` are the scoring function every engine shares, for
use inside your own Ray or Spark jobs (docs/batch.md).
"""

from tensorgate.jobs.job import run
from tensorgate.jobs.progress import Summary
from tensorgate.jobs.rows import COLUMNS, Row
from tensorgate.jobs.scoring import Scorer, score_frame, score_partition

__all__ = ["COLUMNS", "Row", "Scorer", "Summary", "run", "score_frame", "score_partition"]
