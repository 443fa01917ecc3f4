"""Settings: config.yaml validated by pydantic-settings, overridden by LINJU_* environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CONFIG = Path("config.yaml")
# libyaml's safe loader when PyYAML has it: parsing config.yaml in pure Python took a tenth of start-up.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Keys that may only come from the environment: a secret in a YAML file ends up in git.
SECRET_KEYS = {("llm", "api_key"), ("stt", "api_key"), ("wecom", "bot_id"), ("wecom", "secret")}


class ConfigError(Exception):
    """The configuration is unusable; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BotSettings(_Strict):
    name: str = "邻聚小助手"
    undo_minutes: int = Field(30, ge=0)
    ack: bool = True
    # Who this install is when claiming replies to send and scheduled runs (several instances on one
    # database); default: host name and data_dir, which a restart keeps.
    instance: str | None = None


class WecomSettings(_Strict):
    """The WeCom smart robot (企业微信智能机器人) over its WebSocket (bot/channels/wecom_channel.py).

    `bot_id` and `secret` come only from the environment (LINJU_WECOM__BOT_ID, LINJU_WECOM__SECRET). Rooms are
    group chats bound by their chatid (a room's `id:`); staff act by their WeCom userid (`wechat_id:`).
    """

    url: str = "wss://openws.work.weixin.qq.com"
    bot_id: SecretStr | None = None
    secret: SecretStr | None = None
    ping_seconds: float = Field(30.0, gt=0)  # heartbeat; two missed acks in a row and the link is redialled


class DatabaseSettings(_Strict):
    url: str | None = None
    echo: bool = False


class ConsoleSettings(_Strict):
    room: str = "邻长群"
    sender: str = "邻长"


class RoomSettings(_Strict):
    name: str
    id: str | None = None  # the platform's room id (WeChat: …@chatroom); a room's kind counts only by its id
    kind: Literal["leaders", "committee", "residents"] = "leaders"
    area: str | None = None
    group: str | None = None
    estate: str | None = None  # the estate (小区) it serves; default: the one of its community's named in `name`
    ack: bool | None = None
    quiet_hours: str | None = None


class CommunitySettings(_Strict):
    name: str
    estates: list[str] = []
    rooms: list[RoomSettings] = []


class StaffSettings(_Strict):
    name: str | None = None
    wechat_id: str | None = None  # staff act only by this id where ids are real (the name is for display)
    communities: list[str] = []  # whose tickets they handle (default: default_community)
    subdistrict_wide: bool = False  # every community's tickets


class UnitSettings(_Strict):
    """Who tickets are dispatched to besides staff (物业, 网格员 王某, 水务): where dispatches and chases go, and
    whose ids may accept (签收), return (退单), ask for more time (延期) and report done (办结) on its tickets."""

    name: str = Field(min_length=1, max_length=40)
    aliases: list[str] = []  # other words staff use for it: 物业公司, 王网格员
    room_id: str | None = None  # a group with the unit's people (platform id); dispatches and chases go there
    wechat_id: str | None = None  # or its contact person's private chat; also one of its members
    members: list[str] = []  # platform ids (on the console: names) who act for the unit
    communities: list[str] = []  # whose tickets it takes (default: all)


class LLMSettings(_Strict):
    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    timeout_seconds: float = Field(5.0, gt=0)
    max_retries: int = Field(1, ge=0)
    # A batch of messages waits at most this long for the LLM (before any database write); what it has not
    # answered by then is decided by the rules and the model. Requests in flight at once: `concurrency`.
    batch_seconds: float = Field(12.0, gt=0)
    concurrency: int = Field(4, ge=1)
    daily_budget: int = Field(2000, ge=0)
    breaker_failures: int = Field(5, ge=1)
    breaker_cooldown_seconds: float = Field(300.0, ge=0)
    max_chars: int = Field(500, ge=1, le=500)  # of one message, after redaction, sent to the LLM

    @property
    def enabled(self) -> bool:
        return bool(self.base_url and self.model)


class STTSettings(_Strict):
    """Speech to text for voice messages that arrive as audio (WeChat's SILK recordings): any OpenAI-compatible
    /v1/audio/transcriptions endpoint (FunASR's funasr-server, speaches, vLLM). Without one, a leader's voice
    message is held for staff (待确认) with its recording; see docs/voice.md."""

    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None  # LINJU_STT__API_KEY, from the environment only
    timeout_seconds: float = Field(15.0, gt=0)
    language: str | None = "zh"  # sent as the request's language hint; null: let the model detect it
    max_seconds: float = Field(120.0, gt=0)  # longer recordings are not sent (WeChat's own limit is 60 s)

    @property
    def enabled(self) -> bool:
        return bool(self.base_url and self.model)


class LimitRates(_Strict):
    """Per hour and per (rolling) day; null: no limit."""

    tickets_per_hour: int | None = Field(None, ge=0)
    tickets_per_day: int | None = Field(None, ge=0)
    urgent_per_hour: int | None = Field(None, ge=0)
    urgent_per_day: int | None = Field(None, ge=0)
    llm_per_hour: int | None = Field(None, ge=0)
    llm_per_day: int | None = Field(None, ge=0)


def _sender_rates() -> LimitRates:
    # A neighbour leader relays for 5-15 households: a busy day is a handful of reports.
    return LimitRates(
        tickets_per_hour=10, tickets_per_day=30, urgent_per_hour=3, urgent_per_day=6, llm_per_hour=20, llm_per_day=60
    )


def _room_rates() -> LimitRates:
    return LimitRates(
        tickets_per_hour=60, tickets_per_day=300, urgent_per_hour=10, urgent_per_day=30, llm_per_hour=200, llm_per_day=800
    )


class LimitSettings(_Strict):
    """Beyond these a message is stored but not filed or pushed (staff are told once); staff are not limited."""

    enabled: bool = True
    sender: LimitRates = Field(default_factory=_sender_rates)
    room: LimitRates = Field(default_factory=_room_rates)
    sends_per_minute: float | None = Field(None, gt=0)  # outgoing; default: what the channel declares
    send_burst: int | None = Field(None, ge=1)


class RetentionSettings(_Strict):
    chat_days: int = Field(30, ge=1)  # chat messages lose their text (not reports) after this many days
    purge_cron: str = "30 3 * * *"


class CategorySettings(_Strict):
    code: str
    name: str
    description: str = ""
    keywords: list[str] = []
    sla_days: int = Field(7, ge=0)
    priority: int = 0


class TaxonomySettings(_Strict):
    categories: list[CategorySettings]

    @field_validator("categories")
    @classmethod
    def _unique_codes(cls, v: list[CategorySettings]) -> list[CategorySettings]:
        codes = [c.code for c in v]
        dupes = {c for c in codes if codes.count(c) > 1}
        if dupes:
            raise ValueError(f"duplicate category codes: {sorted(dupes)}")
        if not v:
            raise ValueError("at least one category is needed")
        return v


class FaqEntry(_Strict):
    """A question people ask the bot, and the answer: `ask` are words any of which marks the question."""

    ask: list[str]
    answer: str


class ConversationSettings(_Strict):
    follow_up_minutes: int = Field(10, ge=0)  # a message adding a place or photo joins the last report this long
    question_minutes: int = Field(30, ge=1)  # how long the answer to "是哪一栋？" is waited for
    photo_minutes: int = Field(5, ge=0)  # a photo this close before or after a report belongs to it
    ask_place: bool = True  # ask where, once, when a report names no building or estate
    contact: str = "社区居委会"  # who to ask about what the bot cannot answer (a name and a phone)
    faq: list[FaqEntry] = []


class ClassifierSettings(_Strict):
    rules_confident: float = Field(0.7, ge=0, le=1)
    model_confident: float = Field(0.8, ge=0, le=1)
    llm_below: float = Field(0.5, ge=0, le=1)
    duplicate_window_days: int = Field(14, ge=0)
    duplicate_similarity: float = Field(0.3, ge=0, le=1)
    candidate_days: int = Field(7, ge=1)  # a message held for review (待确认) is dropped after this many days


class WebSettings(_Strict):
    """The web console (bot/web): `linju web`, or inside `linju run` when enabled, on the same database."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)  # 0: any free port (tests)
    # Session cookies marked Secure (sent only over HTTPS, and to localhost): off only behind plain HTTP on a LAN.
    secure_cookies: bool = True
    session_hours: int = Field(12, ge=1, le=24 * 30)
    login_attempts: int = Field(10, ge=1)  # wrong passwords per account or address in 15 minutes, then a wait


class ScheduleSettings(_Strict):
    timezone: str = "Asia/Shanghai"
    digest_cron: str = "0 9 1 * *"
    digest_period: Literal["month", "week"] = "month"
    overdue_reminder_cron: str = "0 9 * * *"
    follow_up_cron: str = "0 10 * * *"  # 回访: ask reporters who have not rated a resolved ticket
    follow_up_days: int = Field(3, ge=1)  # … this many days after 办结 (once; answers count for 30 days)
    subdistrict_rooms: list[str] = []  # room ids (console: names) that get the whole subdistrict's digest
    quiet_hours: str = "22:00-07:00"


class Settings(BaseSettings):
    """Everything linju is configured with. See config.yaml for the documented defaults."""

    model_config = SettingsConfigDict(
        env_prefix="LINJU_",
        env_nested_delimiter="__",
        extra="forbid",
    )
    # The parsed config file, below the environment (load_settings sets it on a subclass).
    file_values: ClassVar[dict[str, Any]] = {}

    channel: str = "console"  # a name in bot/channels/registry.py (console, wechaty, wecom)
    data_dir: Path = Path("./data")
    log_level: str = "INFO"
    bot: BotSettings = BotSettings()
    database: DatabaseSettings = DatabaseSettings()
    console: ConsoleSettings = ConsoleSettings()
    wecom: WecomSettings = WecomSettings()
    communities: list[CommunitySettings] = []
    default_community: str = "默认社区"
    ignore_unknown_rooms: bool = False
    staff: list[StaffSettings] = []
    units: list[UnitSettings] = []
    llm: LLMSettings = LLMSettings()
    stt: STTSettings = STTSettings()
    taxonomy: TaxonomySettings
    classifier: ClassifierSettings = ClassifierSettings()
    conversation: ConversationSettings = ConversationSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    limits: LimitSettings = LimitSettings()
    retention: RetentionSettings = RetentionSettings()
    web: WebSettings = WebSettings()

    @field_validator("channel")
    @classmethod
    def _registered_channel(cls, v: str) -> str:
        from bot.channels import registry  # imported here: the registry imports this module

        return registry.check(v)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _FileValues(settings_cls)

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'linju.db').as_posix()}"

    def all_estates(self) -> list[str]:
        return [e for c in self.communities for e in c.estates]


class _FileValues(PydanticBaseSettingsSource):
    """The config file's values, parsed once by load_settings (pydantic-settings' YAML source would read and
    parse the file again, with the slow pure-Python loader)."""

    settings_cls: type[Settings]  # always a Settings subclass (load_settings's FileSettings)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.settings_cls.file_values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.settings_cls.file_values)


def _find_secrets(raw: dict[str, Any]) -> list[str]:
    found = []
    for section, key in SECRET_KEYS:
        block = raw.get(section)
        if isinstance(block, dict) and block.get(key) not in (None, ""):
            found.append(f"{section}.{key}")
    return found


def _describe(err: ValidationError, path: Path) -> str:
    lines = [f"invalid configuration in {path}:"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"  unknown key '{key}' (check the spelling; see config.yaml for the known keys)")
        else:
            lines.append(f"  {key}: {e['msg']}")
    return "\n".join(lines)


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read settings from `path` (default $LINJU_CONFIG or ./config.yaml), then the environment.

    Raises ConfigError with the file and key named for unknown keys, bad values and secrets in the file.
    """
    cfg_path = Path(path or os.environ.get("LINJU_CONFIG") or DEFAULT_CONFIG)
    if not cfg_path.is_file():
        raise ConfigError(f"no configuration file at {cfg_path} (pass --config PATH or set LINJU_CONFIG)")
    try:
        raw = yaml.load(cfg_path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{cfg_path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{cfg_path} must hold a mapping of settings at the top level")
    secrets = _find_secrets(raw)
    if secrets:
        raise ConfigError(
            f"{cfg_path}: {', '.join(secrets)} is a secret and must come from the environment "
            f"({', '.join('LINJU_' + key.upper().replace('.', '__') for key in secrets)}), not from the file"
        )
    file_settings = type("FileSettings", (Settings,), {"file_values": raw})
    try:
        return file_settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, cfg_path)) from exc
