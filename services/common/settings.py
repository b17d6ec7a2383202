"""One settings object for every service, read from the environment (and `.env`).

Every port, path and address is a setting so that tests and operators can move them;
the defaults are the local embedded system that `make run` starts.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMPLAINTS_", env_file=".env", extra="ignore")

    data_dir: Path = PROJECT_ROOT / ".data"
    host: str = "127.0.0.1"

    # Unset means: start the embedded PostgreSQL under data_dir (launcher and tests).
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "COMPLAINTS_DATABASE_URL")
    )
    database_name: str = "complaints"

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "complaints"
    temporal_ui_port: int = 8233
    # AES-GCM keys for Temporal payloads (services/common/codec.py); unset: payloads in clear.
    # `make run` makes one under the data folder; production keeps it in a secret store.
    payload_keys_file: Path | None = None
    # Local systems only: the dev server's UI may use the codec server without a token.
    codec_allow_local_ui: bool = False

    intake_port: int = 8000
    workflow_port: int = 8001
    notify_port: int = 8002
    reporting_port: int = 8003
    worker_port: int = 8004  # the workflow worker's health and metrics
    worker_sdk_metrics_port: int = 8005  # the Temporal SDK's Prometheus endpoint in the worker
    # Open complaints a worker keeps in memory (the SDK's workflow cache), about 0.4 MB each.
    # A complaint not kept replays its whole history at its next deadline or action: in a storm
    # of 1,000 deadlines with room for 250, the worker spent 3.5 times the CPU. Size it to the
    # open complaints each worker replica runs (the SDK's sticky_cache_* metrics show misses).
    worker_cached_complaints: int = Field(default=1000, ge=0)
    # Live views (workflow queries) each service may wait for at once; past it, pages show what
    # the events recorded (why: services/workflow/contract/client.py, READS_IN_FLIGHT).
    engine_reads_in_flight: int = Field(default=16, ge=1)

    # Where services reach each other; derived from host and ports unless set.
    intake_url: str | None = None
    workflow_url: str | None = None
    notify_url: str | None = None
    reporting_url: str | None = None  # the console links staff to its dashboard
    # The token this process presents to other services, and the SHA-256 of the tokens it
    # accepts, per calling service (see services/common/service_auth.py).
    service_token: SecretStr | None = None
    caller_tokens: dict[str, str] = {}
    # Local systems only (`make run`, tests): every roster member without a password gets this
    # one at start, so each role can sign in. Unset in production: passwords are set per person
    # (`python -m services.workflow.accounts set-password STAFF_ID`) or an OIDC provider signs in.
    demo_password: SecretStr | None = None

    # Each channel API key may submit this many complaints a minute, in bursts up to `burst`,
    # to each intake process (the limit is kept in memory: with N replicas, give each 1/N).
    intake_rate_per_minute: float = 600
    intake_rate_burst: int = 100

    # SLA policies: one TOML file each; complaints start under `default_policy`.
    policy_dir: Path = PROJECT_ROOT / "services" / "workflow" / "policies"
    default_policy: str = "default"
    # The organisation's zone: customers' pages show times in it and read a form's wall-clock
    # times in it. The same zone as the default policy's business calendar (a test checks).
    time_zone: ZoneInfo = ZoneInfo("Asia/Shanghai")

    # Classification (intake) and routing (workflow): rules in configuration files.
    classification_rules: Path = PROJECT_ROOT / "services" / "intake" / "classification.toml"
    routing_file: Path = PROJECT_ROOT / "services" / "workflow" / "routing.toml"
    roster_file: Path = PROJECT_ROOT / "services" / "workflow" / "roster.toml"

    # The same customer about the same matter within this window is linked, not started twice.
    repeat_window_hours: float = 72
    repeat_min_similarity: float = 0.35
    # Complaints of this many customers with one cause within the window are a batch incident.
    batch_window_minutes: float = 60
    batch_min_customers: int = 5
    # Above this many complaints a minute (all channels) intake warns on call and overflows.
    surge_per_minute: int = 300

    log_level: str = "INFO"
    # Spans also go to <dir>/<service>.jsonl (local runs, tests); OTLP export is switched on
    # by the standard OTEL_EXPORTER_OTLP_ENDPOINT variable.
    traces_dir: Path | None = None
    reporting_poll_seconds: float = 0.5
    notify_poll_seconds: float = 1.0
    # A staff member's alerts reach the console at once; their e-mail copies wait this long and
    # go out together, one e-mail for a burst (services/notify/alert_emails.py).
    alert_email_wait_seconds: float = 30.0

    # E-mail: an SMTP relay (production: TLS and a login). Unset: e-mail is written to the
    # deliveries folder like the other channels. `make run` starts a local SMTP server that
    # keeps every message in a Maildir under <data_dir>/mail and points this at it.
    smtp_host: str | None = None
    smtp_port: int = 25
    local_smtp_port: int = 8025  # the local SMTP server `make run` starts when smtp_host is unset
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    mail_from: str = "Customer Care 客户服务 <care@complaints.local>"
    # Where a customer's reply goes: the complaint's own address, which the e-mail channel
    # adapter turns back into the complaint (see services/notify/smtp.py).
    mail_reply_to: str = "care+{complaint_id}@complaints.local"
    # Signs the complaint id in that address and in the thread (services/notify/contract.py);
    # notify and intake hold the same one, kept as long as customers may answer old messages.
    # Unset: no answer is matched to its complaint. `make run` keeps one under the data folder.
    mail_reply_key: SecretStr | None = None
    # After a new key: the keys before it, still accepted on answers to messages they signed.
    mail_reply_previous_keys: list[SecretStr] = []
    # Gateways for the other channels (sms, wechat, dingtalk, push): a URL each, all signed with
    # this secret (services/notify/webhook.py). Unset: written to the deliveries folder.
    webhook_urls: dict[str, str] = {}
    webhook_secret: SecretStr | None = None

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set: start the system with `make run`, or point it at PostgreSQL")
        return self.database_url

    def url_of(self, service: str) -> str:
        explicit = getattr(self, f"{service}_url", None)
        return explicit or f"http://{self.host}:{getattr(self, f'{service}_port')}"

    @property
    def deliveries_dir(self) -> Path:
        """Where the local notification provider writes what it 'sends'."""
        return self.data_dir / "deliveries"

    @property
    def mail_dir(self) -> Path:
        """The local SMTP server's Maildir (`make run`): every e-mail it received."""
        return self.data_dir / "mail"


@lru_cache
def get_settings() -> Settings:
    return Settings()
