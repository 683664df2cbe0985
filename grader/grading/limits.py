"""The limits one job runs under: the settings, with the rubric's resources applied."""

from __future__ import annotations

from grader.rubrics.model import Rubric
from grader.settings import ExecutionLimits, SandboxLimits, Settings


def effective_limits(rubric: Rubric, settings: Settings) -> tuple[SandboxLimits, ExecutionLimits]:
    """A rubric sizes its own job (a GAN needs more memory than a layer test); settings hold the rest."""
    res = rubric.resources
    sandbox = settings.sandbox.model_copy(
        update={k: v for k, v in {"memory_mb": res.memory_mb, "wall_time_s": res.time_s}.items() if v is not None}
    )
    execution = settings.execution.model_copy(
        update={
            k: v
            for k, v in {
                "cell_timeout_s": res.cell_timeout_s,
                "notebook_timeout_s": res.notebook_timeout_s,
                "test_call_timeout_s": res.test_call_timeout_s,
            }.items()
            if v is not None
        }
    )
    return sandbox, execution
