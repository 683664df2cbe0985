"""Every gradebook table, imported so ``Base.metadata`` is complete (Alembic, tests).

It sits above the domain, in no package of it: only migrations/env.py and the tests import it.
"""

from grader.audit.models import AuditEvent
from grader.courseworks.models import Coursework, DeadlineExtension, MitigatingCircumstance, Release
from grader.db.base import Base
from grader.grading.model_verdicts import ModelVerdict
from grader.marking.models import ManualMark, MarkChange, PenaltyDecision
from grader.marking.module_models import ExamMark, ModuleRelease
from grader.marking.overview_models import OverviewChange
from grader.marking.query_models import MarkQuery, QueryWindow
from grader.marking.scale_models import (
    CandidatePseudonym,
    CommentBankEntry,
    MarkingAllocation,
    MarkingSettings,
    ModerationPick,
    ModerationSample,
)
from grader.roster.models import Student
from grader.runs.models import GradingRun, RunArtifact, RunItemScore, RunPenalty, RunTestResult
from grader.runs.preview_models import RegradePreview
from grader.runs.registry_models import WorkerRegistration
from grader.sign_on.models import SignOnRequest
from grader.similarity.models import ArchivedNotebook
from grader.submissions.models import CountingChoice, DuplicateFlag, Submission, SubmissionFile
from grader.submissions.quota_models import UploadAttempt, UploadQuota
from grader.users.models import ApiToken, User
from grader.users.throttle_models import SignInFailure
from grader.users.web_session_models import WebSession
from grader.webhooks.models import WebhookDelivery, WebhookEndpoint

metadata = Base.metadata

__all__ = [
    "ArchivedNotebook",
    "ApiToken",
    "AuditEvent",
    "CandidatePseudonym",
    "CommentBankEntry",
    "CountingChoice",
    "Coursework",
    "DeadlineExtension",
    "DuplicateFlag",
    "ExamMark",
    "GradingRun",
    "ManualMark",
    "MarkQuery",
    "MarkChange",
    "MarkingAllocation",
    "MarkingSettings",
    "MitigatingCircumstance",
    "ModelVerdict",
    "ModerationPick",
    "ModerationSample",
    "ModuleRelease",
    "OverviewChange",
    "PenaltyDecision",
    "QueryWindow",
    "RegradePreview",
    "Release",
    "RunArtifact",
    "RunItemScore",
    "RunPenalty",
    "RunTestResult",
    "SignOnRequest",
    "SignInFailure",
    "Student",
    "Submission",
    "SubmissionFile",
    "UploadAttempt",
    "UploadQuota",
    "User",
    "WebSession",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WorkerRegistration",
    "metadata",
]
