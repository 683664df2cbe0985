"""The one settings object. Read once (``get_settings``), then passed in.

Every value can be set from the environment with the ``GRADER_`` prefix; nested
values use ``__`` (``GRADER_SANDBOX__MEMORY_MB=4096``).
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

# Defaults the services also take as keyword defaults (grader.runs, grader.webhooks): defined once, here.
RUN_LEASE_S = 90  # a heartbeat every lease/3 leaves room for two missed beats
RUN_MAX_ATTEMPTS = 3  # infrastructure failures (or vanished workers) before a run is an error
WEBHOOK_TIMEOUT_S = 10.0
WEBHOOK_MAX_ATTEMPTS = 12  # 30 s doubling, capped at 1 h: about six hours of trying


class SandboxLimits(BaseModel):
    """Limits of the student zone. A rubric may tighten memory and time, never loosen the caps."""

    memory_mb: int = Field(2048, ge=64, description="memory cgroup limit (memory + swap), MiB")
    pids: int = Field(128, ge=8, description="pids cgroup limit: processes and threads")
    cpus: float = Field(1.0, gt=0, description="CPU quota in cores (cgroup cpu.cfs_quota_us)")
    cpu_time_s: int = Field(900, ge=1, description="RLIMIT_CPU per process, seconds")
    wall_time_s: int = Field(600, ge=1, description="wall-clock kill for the whole job, from outside")
    file_size_mb: int = Field(256, ge=1, description="RLIMIT_FSIZE: largest file the student may write")
    open_files: int = Field(1024, ge=64, description="RLIMIT_NOFILE")
    work_dir_mb: int = Field(512, ge=1, description="size of the writable work dir (tmpfs)")
    tmp_mb: int = Field(256, ge=1, description="size of /tmp (tmpfs)")
    shm_mb: int = Field(256, ge=1, description="size of /dev/shm (tmpfs), for DataLoader workers")
    log_bytes: int = Field(1_000_000, ge=1024, description="cap on the sandbox's own log (stderr) kept")
    uid: int = Field(65534, description="unprivileged uid the student runs as")
    gid: int = Field(65534, description="unprivileged gid the student runs as")
    network: bool = Field(False, description="give the sandbox a network; never for graded runs")


class ExecutionLimits(BaseModel):
    """Limits the runner applies inside the sandbox, and the judge applies to every message."""

    cell_timeout_s: float = Field(120, gt=0, description="one notebook cell (or one kept statement)")
    notebook_timeout_s: float = Field(480, gt=0, description="the whole notebook execution")
    test_call_timeout_s: float = Field(30, gt=0, description="default for one student.run call")
    kernel_restarts: int = Field(3, ge=0, description="restarts (with definitions replayed) per run")
    output_bytes_per_cell: int = Field(100_000, ge=1024, description="student outputs kept per cell")
    max_cells: int = Field(2000, ge=1, description="a notebook with more code cells is refused")
    max_notebook_mb: int = Field(100, ge=1, description="largest notebook accepted")
    max_header_bytes: int = Field(1_000_000, ge=1024, description="largest JSON message header")
    max_blob_mb: int = Field(64, ge=1, description="largest single array crossing the protocol")
    max_message_mb: int = Field(128, ge=1, description="largest whole message crossing the protocol")
    max_report_mb: int = Field(64, ge=1, description="largest executed notebook/report sent back")


class RenderLimits(BaseModel):
    """Bounds on rendering a submitted notebook for markers (nbconvert on student input, run in a
    child process outside the sandbox by ``grader.notebooks.bounded``)."""

    timeout_s: float = Field(60, gt=0, description="wall-clock limit; the renderer is killed after it")
    memory_mb: int = Field(2048, ge=256, description="RLIMIT_AS of the rendering process, MiB")


class SignOn(BaseModel):
    """Single sign-on with OpenID Connect (docs/sign-on.md). Off until ``issuer`` is set."""

    issuer: str | None = Field(
        None,
        description="the provider's issuer URL, exactly as its discovery document and ID tokens give it "
        "(Entra ID: https://login.microsoftonline.com/<tenant id>/v2.0)",
    )
    client_id: str = Field("", description="this service's client (application) id at the provider")
    client_secret: SecretStr | None = Field(None, description="the client secret the provider gave this service")
    redirect_url: str | None = Field(
        None, description="the callback registered at the provider; default: <public_url>/login/sso/callback"
    )
    claim: str = Field("email", description="the ID-token claim that names the person (email, or a student number)")
    match_on: str = Field(
        "email",
        pattern="^(email|external_id)$",
        description="what the claim is compared with: 'email' (roster and staff emails, any case) or "
        "'external_id' (the roster's student number; staff by username)",
    )
    scopes: str = Field("openid email profile", description="scopes asked for; openid is always one")
    provider_name: str = Field("single sign-on", description="shown on the login page: 'Sign in with ...'")
    timeout_s: float = Field(10, gt=0, le=60, description="each request to the provider")

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)


class Settings(BaseSettings):
    # hide_input_in_errors: a refused secret is never echoed into a log.
    model_config = SettingsConfigDict(
        env_prefix="GRADER_", env_nested_delimiter="__", extra="ignore", hide_input_in_errors=True
    )

    rubrics_dir: Path = Field(REPO_ROOT / "rubrics", description="one folder per coursework")
    hidden_root: Path | None = Field(
        None, description="where real hidden suites live (<root>/<cw>/); default: each rubric's hidden/"
    )
    runtime_dir: Path = Field(
        Path("/opt/grader/runtime"),
        description="the course's Python runtime (a virtualenv readable by the sandbox uid)",
    )
    jobs_dir: Path = Field(
        Path("/var/tmp/grader-jobs"), description="scratch space for jobs; must be reachable by the sandbox uid"
    )
    database_url: str = Field(
        f"sqlite:///{REPO_ROOT / 'var' / 'grader.db'}",
        description="SQLAlchemy URL of the gradebook: SQLite embedded, postgresql+psycopg://... in production",
    )
    blob_dir: Path = Field(REPO_ROOT / "var" / "blobs", description="content-addressed store of received files")
    retention_days: int = Field(
        365,
        ge=0,
        description="students' data is kept this many days after the module's end (or their withdrawal), then "
        "`grader erase --expired` erases it (docs/backup.md)",
    )
    module_end: dt.date | None = Field(
        None, description="the module's last day, for retention; default: the latest assessed deadline in the gradebook"
    )
    broker_url: str = Field(
        "filesystem://",
        description="Celery broker: redis://127.0.0.1:6379/0 in production; filesystem:// needs no server",
    )
    broker_dir: Path = Field(REPO_ROOT / "var" / "broker", description="folders of the filesystem broker")
    log_dir: Path = Field(REPO_ROOT / "var" / "log", description="logs of the API and worker `grader up` starts")
    worker_queues: list[str] = Field(default_factory=lambda: ["cpu"], description="queues this worker serves")
    lease_s: int = Field(RUN_LEASE_S, ge=10, description="a grading run's lease; heartbeats renew it every lease_s/3")
    max_attempts: int = Field(
        RUN_MAX_ATTEMPTS, ge=1, description="infrastructure failures retried up to this many attempts"
    )
    sweep_interval_s: int = Field(30, ge=1, description="how often expired leases and lost wake-ups are swept")
    fallback_after_s: float | None = Field(
        None,
        ge=0,
        description="overrides every rubric's fallback_after (seconds; the rubric's fallback_queue still decides "
        "whether a run may move): 0 moves a run as soon as no worker serves its queue (`grader up` without a GPU, "
        "the tests); default: each rubric's own wait",
    )
    fair_queue: bool = Field(
        True,
        description="claim round-robin by student and let a new submission supersede the same student's older "
        "waiting runs (grader.runs.fair_queue); false: first in, first out, every run graded",
    )
    upload_max_mb: int = Field(200, ge=1, description="largest upload accepted by the API")
    request_max_kb: int = Field(1024, ge=1, description="largest request body of every route but the uploads")
    submissions_per_hour: int = Field(
        30, ge=1, description="upload attempts (refused ones too) one student may make per coursework in any hour"
    )
    tutorial_submissions_per_hour: int = Field(
        60,
        ge=1,
        description="the same limit for unassessed courseworks (tutorials), counted apart from the assessed ones",
    )
    upload_check_cpu_s: int = Field(30, ge=1, description="CPU seconds the check of one upload may use")
    upload_check_timeout_s: float = Field(120, gt=0, description="wall-clock limit on the check of one upload")
    upload_check_memory_mb: int = Field(4096, ge=256, description="address space of the process checking an upload")
    login_window_minutes: int = Field(15, ge=1, description="failed sign-ins are counted over this sliding window")
    login_failures_per_account: int = Field(
        10, ge=1, description="failed sign-ins to one username within the window before it is throttled"
    )
    login_failures_per_address: int = Field(
        100,
        ge=1,
        description="failed sign-ins from one client address (a lab behind NAT is one) within the "
        "window before it is throttled",
    )
    login_hashes_at_once: int = Field(
        4, ge=1, description="password checks (argon2, 64 MiB each) one API process runs at the same time"
    )
    login_hash_wait_s: float = Field(
        5, ge=0, description="how long a sign-in waits for a free password check before the reply is 503"
    )
    public_url: str = Field("http://127.0.0.1:8000", description="where the service is reached")
    sandbox_backend: str = Field("bwrap", description="bwrap or docker")
    warm_judges: int = Field(
        0,
        ge=0,
        le=8,
        description="judges a worker process keeps started ahead of their jobs (a `grader grade` batch: at least 3), "
        "sandbox, kernel, numpy and torch up; each still serves one job in a fresh sandbox. 0: every job starts cold",
    )
    fork_servers: bool = Field(
        True,
        description="judges and upload checks are forked from a template process that imported them once "
        "(trusted code only: the student's sandbox is still started fresh for every job); off: each is a new "
        "interpreter",
    )
    forked_runners: bool = Field(
        True,
        description="bwrap warm units: the runner and its first kernel are forked from a template that imported "
        "the runtime once, into the unit's own fresh sandbox (its namespaces, mounts, cgroup, limits, seccomp), "
        "instead of started as new interpreters there; off: each starts cold in its sandbox",
    )
    bwrap_path: Path = Field(Path("/usr/bin/bwrap"))
    worker_self_test: bool = Field(
        True,
        description="a worker (and `grader up`) runs a tiny sandbox job before it serves, and refuses to start "
        "when that fails (workers.selftest); off only in tests of other things that start one",
    )
    docker_image: str = Field(
        "grader-sandbox:latest", description="the docker backend's image (scripts/build_sandbox_image.sh)"
    )
    gpu_device: str | None = Field(
        None,
        description="the one GPU (index, GPU-uuid or MIG-uuid) a gpu-queue worker owns; "
        "default: the worker's CUDA_VISIBLE_DEVICES, else the machine's only GPU",
    )
    gpu_memory_fraction: float = Field(
        0.95, gt=0, le=1, description="torch's per-process GPU memory cap in gpu jobs: a courtesy, not a limit"
    )
    gpu_dev_root: Path = Field(Path("/dev"), description="where the NVIDIA device nodes are (tests: a fake tree)")
    state_dir: Path = Field(
        REPO_ROOT / "var" / "state",
        description="worker state that outlives a job (a GPU taken out of service leaves a marker here)",
    )
    sandbox: SandboxLimits = Field(default_factory=SandboxLimits)
    execution: ExecutionLimits = Field(default_factory=ExecutionLimits)
    render: RenderLimits = Field(default_factory=RenderLimits)
    secret_key: str | None = Field(
        None,
        description="the service's own secret: at least 32 random characters, never a placeholder "
        "(`grader up` makes one in state_dir); webhooks use each endpoint's own secret",
    )
    dev_mode: bool = Field(False, description="a development machine: a placeholder secret_key is allowed")
    web_session_idle_minutes: int = Field(120, ge=1, description="a dashboard session unused this long ends")
    web_session_max_hours: int = Field(12, ge=1, description="a dashboard session ends this long after sign-in")
    webhook_timeout_s: float = Field(
        WEBHOOK_TIMEOUT_S, gt=0, le=60, description="one webhook POST: connect, send, answer"
    )
    webhook_max_attempts: int = Field(
        WEBHOOK_MAX_ATTEMPTS, ge=1, description="webhook attempts (30 s doubling, 1 h cap) before failed"
    )
    webhook_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="webhook hosts (exactly as written in the URL) that may be internal "
        "addresses: loopback, private, link-local, the database's or broker's own. Default: none may",
    )
    metrics_token: SecretStr | None = Field(
        None, description="a bearer token that may read /metrics (besides staff API tokens)"
    )
    metrics_public: bool = Field(False, description="serve /metrics to anyone, without a token")
    oidc: SignOn = Field(default_factory=SignOn)
    sso_starts_per_address: int = Field(
        30,
        ge=1,
        description="single sign-ins one client address may have started and not finished within 10 minutes "
        "(GET /login/sso) before it is throttled (a lab behind NAT is one address)",
    )
    sso_pending_max: int = Field(
        10_000, ge=1, description="single sign-ins under way kept at once, from everywhere; past it: 503"
    )
    local_accounts: bool = Field(
        True, description="sign in to the dashboard with local passwords; false leaves only single sign-on"
    )
    host: str = Field("127.0.0.1", description="where `grader serve` listens")
    port: int = Field(8000, ge=1, le=65535, description="the port `grader serve` listens on")

    @model_validator(mode="after")
    def _no_placeholder_secret(self) -> Settings:
        problem = weak_secret(self.secret_key) if self.secret_key is not None else None
        if problem and not self.dev_mode:
            raise ValueError(
                f"GRADER_SECRET_KEY {problem}: refusing to start. Set it to at least {MIN_SECRET_CHARS} random "
                "characters, e.g. the output of `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`, "
                "or leave it unset (`grader up` then makes and keeps one); only on a development machine, "
                "GRADER_DEV_MODE=1 allows a placeholder."
            )
        return self

    @model_validator(mode="after")
    def _someone_can_sign_in(self) -> Settings:
        if not self.local_accounts and not self.oidc.enabled:
            raise ValueError(
                "GRADER_LOCAL_ACCOUNTS is off and no single sign-on is configured (GRADER_OIDC__ISSUER): "
                "nobody could sign in to the dashboard."
            )
        if self.oidc.enabled and not (self.oidc.client_id and self.oidc.client_secret):
            raise ValueError(
                "GRADER_OIDC__ISSUER is set: GRADER_OIDC__CLIENT_ID and GRADER_OIDC__CLIENT_SECRET are needed too."
            )
        return self


MIN_SECRET_CHARS = 32
# Values seen in examples, defaults and docs: a secret anyone can read is no secret.
PLACEHOLDER_SECRETS = frozenset(
    {
        "dev-only-secret",
        "changeme",
        "change-me",
        "change_me",
        "changethis",
        "secret",
        "secret-key",
        "secret_key",
        "your-secret-key",
        "please-change-me",
        "insecure",
        "development",
        "dev",
        "test",
        "password",
        "default",
        "...",
    }
)


PLACEHOLDER_WORDS = re.compile(r"change.?(me|this)|replace.?me|your.?secret|dev.?only", re.IGNORECASE)


def weak_secret(value: str) -> str | None:
    """Why ``value`` cannot be the service's secret (without saying what it is), or None."""
    if value.strip().lower() in PLACEHOLDER_SECRETS or PLACEHOLDER_WORDS.search(value):
        return "is a placeholder"
    if len(value) < MIN_SECRET_CHARS:
        return f"is shorter than {MIN_SECRET_CHARS} characters"
    if len(set(value)) < 10:
        return "repeats too few characters to be random"
    return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def settings_error(exc: ValidationError) -> str:
    """A refused configuration as one readable message (for the command line)."""
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{where}: {msg}" if where else msg)
    return "invalid settings: " + "; ".join(problems)
