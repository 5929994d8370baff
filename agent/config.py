"""The gate agent's configuration: one TOML file, one pydantic model tree, secrets from the environment.

Every section forbids unknown keys, so a typo stops the agent at start-up with the key path of
the mistake instead of silently running with a default. Device sections pick their driver with
a `type` discriminator (`simulated` everywhere for `checkpoint agent simulate`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from agent.backoff import HTTP_TIMEOUT_S
from hardware.barrier.simulated import SimulatedBarrierConfig
from hardware.camera.simulated import SimulatedCameraConfig
from hardware.registry import BarrierConfig, CameraConfig, ScannerConfig, SpeakerConfig, ThermometerConfig
from hardware.speaker.silent import SilentSpeakerConfig
from hardware.thermometer.simulated_serial import SimulatedSerialThermometerConfig
from protocols.contract import MAX_BATCH
from protocols.errors import ConfigError
from protocols.events import PRESENCE_WINDOW_MAX
from protocols.readings import ReadingLimits

log = logging.getLogger(__name__)

VenueKind = Literal["factory", "school", "kindergarten", "market", "canteen"]
SUBJECT_KEY_ENV = "CHECKPOINT_SUBJECT_KEY"
GUARD_PIN_ENV = "CHECKPOINT_GUARD_PIN"
DEVICE_SECRET_ENV = "CHECKPOINT_DEVICE_SECRET"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GateSection(_Section):
    """Who this gate is: venue, gate id, kind of venue, how long records are kept."""

    venue: str = Field(min_length=1, max_length=64)
    gate: str = Field(min_length=1, max_length=64)
    venue_kind: VenueKind = "factory"
    direction: Literal["in", "out"] = "in"
    open_s: float = Field(default=3.0, gt=0, le=30, description="how long the barrier opens for one admission")
    # Contact tracing asks for about 21-28 days (POLICY.md section 5).
    retention_days: int = Field(default=28, ge=1, le=366)
    # How far the wall clock may stray from the hub's time (kept on the monotonic clock) before the gate
    # decides by the hub's time and raises GATE-CLOCK-01; NTP's steps and a day's drift are well inside.
    clock_tolerance_s: float = Field(default=120.0, gt=0, le=86_400,
                                     description="wall clock vs the hub's time, beyond which the trusted time decides")
    # Where the gate stands: canteen meal groups eat only in their zones. The signed schedule's gate_zones
    # (the hub's gate record, set by a supervisor) wins; this is the zone of a gate it does not name.
    zone: str | None = Field(default=None, min_length=1, max_length=64, description="the gate's zone of the venue")
    # The venue's zone for every time the gate shows (its event lines), as the hub's console shows them:
    # not the machine's zone, which on a Raspberry Pi image is often UTC (one event 8 h apart).
    timezone: str = Field(default="Asia/Shanghai", min_length=1, max_length=64,
                          description="IANA zone of the venue, e.g. Asia/Shanghai")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The venue's time zone."""
        return ZoneInfo(self.timezone)


class StoreSection(_Section):
    """Where the local SQLite store lives."""

    path: Path = Path("var/agent.sqlite")


class MeasureSection(_Section):
    """How the loop uses the thermometer: freshness, how long to wait, the rest before a re-measure."""

    max_age_s: float = Field(default=3.0, gt=0, le=30, description="a reading older than this is not used")
    wait_s: float = Field(default=8.0, gt=0, le=60, description="how long a person is asked to measure")
    rest_s: float = Field(default=20.0, ge=0, le=600, description="rest before the one re-measure after a high reading")
    # Integrity: the median of the last drift_window readings must stay in [drift_low_c, drift_high_c].
    drift_window: int = Field(default=30, ge=0, le=1000,
                              description="readings the drift median is taken over (0: no drift watch)")
    drift_low_c: float = Field(default=35.5, ge=30, le=45, description="lowest plausible median of people's readings")
    drift_high_c: float = Field(default=37.5, ge=30, le=45, description="highest plausible median of people's readings")

    # Which readings may decide (protocols/readings.py, the same check `checkpoint decide` runs).
    limits: ReadingLimits = Field(default_factory=ReadingLimits,
                                  description="[measure.limits] plausible_min_c, plausible_max_c, remeasure_below_c")

    @model_validator(mode="after")
    def _band_in_order(self) -> "MeasureSection":
        if self.drift_low_c >= self.drift_high_c:
            raise ValueError("measure.drift_low_c must be below measure.drift_high_c")
        return self


class KioskSection(_Section):
    """The local kiosk page a Pi opens full-screen."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8088, ge=0, le=65535)
    countdown_s: float = Field(default=5.0, gt=0, le=60, description="seconds a result stays on screen")
    journal: Path | None = Field(default=None, description="append every screen shown to this file")


class RulesSection(_Section):
    """The signed rule bundle and trust list this gate decides with, and the root key they chain to."""

    bundle: Path | None = Field(default=None, description="the signed rule bundle (JSON) the hub distributes")
    bundle_max_age_h: float | None = Field(default=24.0, gt=0, description="refuse a bundle issued longer ago")
    trust_list: Path | None = None
    # A week: supervisors publish trust lists by hand, and a revocation must reach a gate within a bounded time.
    trust_list_max_age_h: float | None = Field(default=168.0, gt=0,
                                               description="refuse a trust list issued longer ago (its revocations are stale)")
    root_public_key: Path | None = None
    # The hub signs the schedule from its own bookings, so it holds this key, never the root key.
    schedule_public_key: Path | None = Field(
        default=None, description="the key the hub's signed schedule (bookings, meal groups, shifts) is checked with; "
                                  "unset: the root key")
    max_code_age_s: float | None = Field(default=None, gt=0, description="refuse codes issued longer ago (screenshots)")
    params: dict[str, Any] = Field(default_factory=dict, description="parameters for a simulation's unsigned bundle")


class PresentationSection(_Section):
    """When a code seen again is the same presentation, and anti-passback per subject."""

    dedupe_s: float = Field(default=5.0, ge=0, le=120)
    anti_passback_s: float = Field(default=60.0, ge=0, le=PRESENCE_WINDOW_MAX.total_seconds())
    decode_every_n_frames: int = Field(default=1, ge=1, le=30)


class MaskSection(_Section):
    """Who sees masks at this gate: the camera's model (litert), the guard standing there, or nobody (off)."""

    # guard: the guard at the gate watches masks (the rules see a mask worn, as before there was a detector);
    # litert: the vendored model looks at the frames of each presented code (hardware/vision/face_mask.py);
    # off: this venue requires no mask (the rules see a mask worn; use only with a pack whose mask rule warns).
    detector: Literal["litert", "guard", "off"] = "guard"
    threads: int = Field(default=1, ge=1, le=4, description="LiteRT threads per look")
    no_mask_threshold: float = Field(default=0.5, gt=0, lt=1, description="p(no mask) from which a face is unmasked")
    wait_s: float = Field(default=1.0, gt=0, le=10, description="longest a decision waits for the look of its code's frame")


class SyncSection(_Section):
    """Where the hub is; the device secret comes from CHECKPOINT_DEVICE_SECRET, never from the file."""

    hub_url: str = Field(pattern=r"^https?://")
    device_id: str = Field(min_length=1)
    mqtt_host: str | None = None
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    documents_dir: Path = Field(default=Path("documents"), description="where fetched bundle and trust list land")
    interval_s: float = Field(default=5.0, gt=0, le=3600)
    lease_want: int = Field(default=10, ge=1, le=10_000,
                            description="places of a capped venue this gate asks the hub to lend it at a time")
    # 2,000: the hub's cost per event falls with the batch (its fixed statements and commit shared out);
    # a hub answers a batch past its MAX_BATCH 413 and the gate halves it.
    batch: int = Field(default=2000, ge=1, le=MAX_BATCH, description="events per HTTP sync call")
    compress: Literal["gzip", "none"] = Field(
        default="gzip", description="Content-Encoding of the sync batches (a backlog drains in fewer bytes)")
    http_timeout: float = Field(default=HTTP_TIMEOUT_S, gt=0, description="seconds an HTTP call to the hub may take")
    resend_after: float = Field(default=10.0, gt=0, description="seconds before an unacked MQTT event goes by HTTP")


class AgentConfig(_Section):
    """The whole agent configuration (one TOML file)."""

    gate: GateSection
    store: StoreSection = Field(default_factory=StoreSection)
    # Device sections: the drivers' own config models (hardware.registry), each chosen by `type`.
    camera: CameraConfig = Field(default_factory=SimulatedCameraConfig)
    # A QR scanner module beside the camera (None: the camera alone); its codes meet the same presentation logic.
    scanner: ScannerConfig | None = None
    thermometer: ThermometerConfig = Field(default_factory=SimulatedSerialThermometerConfig)
    measure: MeasureSection = Field(default_factory=MeasureSection)
    barrier: BarrierConfig = Field(default_factory=SimulatedBarrierConfig)
    kiosk: KioskSection = Field(default_factory=KioskSection)
    speaker: SpeakerConfig = Field(default_factory=SilentSpeakerConfig)
    rules: RulesSection = Field(default_factory=RulesSection)
    presentation: PresentationSection = Field(default_factory=PresentationSection)
    mask: MaskSection = Field(default_factory=MaskSection)
    sync: SyncSection | None = None
    # Secrets: never in the file (private attributes cannot be set from it), filled by parse_config().
    _subject_key: bytes = PrivateAttr(default=b"")
    _guard_pin: str | None = PrivateAttr(default=None)
    _device_secret: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _reads_codes(self) -> "AgentConfig":
        # Either or both may read codes; neither is a gate that can only refer people to the guard.
        if self.camera.type == "off" and self.scanner is None:
            raise ValueError('camera.type = "off" needs a [scanner] section: a gate with neither reads no code')
        return self

    @property
    def passback_window_s(self) -> float:
        """The anti-passback window used: anti_passback_s, widened to rules.max_code_age_s (0: anti-passback off).

        A code is accepted for max_code_age_s, so a shorter window would let the same code (a screenshot
        passed back) in twice while it is still accepted; the wider one of the two is used, never a refusal
        at start-up of a config that set only one.
        """
        window = self.presentation.anti_passback_s
        if window <= 0:
            return 0.0
        return min(max(window, self.rules.max_code_age_s or 0.0), PRESENCE_WINDOW_MAX.total_seconds())

    @property
    def subject_key(self) -> bytes:
        """The venue's key for hashing subject ids (from CHECKPOINT_SUBJECT_KEY)."""
        return self._subject_key

    @property
    def guard_pin(self) -> str | None:
        """The guard's PIN for manual decisions on the kiosk (from CHECKPOINT_GUARD_PIN), or None."""
        return self._guard_pin

    @property
    def device_secret(self) -> str | None:
        """The gate's secret for the hub (from CHECKPOINT_DEVICE_SECRET), needed when [sync] is set."""
        return self._device_secret


def error_lines(exc: ValidationError) -> list[str]:
    """One line per validation error: `key.path: message`."""
    lines = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"{path}: {err['msg']}")
    return lines


def subject_key_from_env(env: dict[str, str] | os._Environ) -> bytes:
    """The venue's subject-hash key from CHECKPOINT_SUBJECT_KEY (hex, or any passphrase >= 16 chars)."""
    raw = env.get(SUBJECT_KEY_ENV, "")
    if not raw:
        raise ConfigError(f"{SUBJECT_KEY_ENV} is not set: the venue's key for hashing subject ids")
    try:
        key = bytes.fromhex(raw)
        if len(key) >= 16:
            return key
    except ValueError:
        pass  # not hex: treat it as a passphrase below
    if len(raw) < 16:
        raise ConfigError(f"{SUBJECT_KEY_ENV} is too short: give at least 16 characters or 16 hex bytes")
    return hashlib.sha256(raw.encode("utf-8")).digest()


def parse_config(data: dict[str, Any], env: dict[str, str] | os._Environ | None = None) -> AgentConfig:
    """Validate a config dict and fill the secrets from env; raises ValidationError or ConfigError."""
    env = os.environ if env is None else env
    cfg = AgentConfig.model_validate(data)
    cfg._subject_key = subject_key_from_env(env)
    pin = env.get(GUARD_PIN_ENV)
    if pin is not None and not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise ConfigError(f"{GUARD_PIN_ENV} must be 4-12 digits")
    cfg._guard_pin = pin
    if cfg.sync is not None:
        secret = env.get(DEVICE_SECRET_ENV, "")
        if len(secret) < 16:
            raise ConfigError(f"{DEVICE_SECRET_ENV} must hold the gate's hub secret (16+ characters) when [sync] is set")
        cfg._device_secret = secret
    return cfg


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file or raise ConfigError naming the file and the line."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        # TOML is UTF-8 text: a binary file or another encoding is named, with where it goes wrong.
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): not a TOML config") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def table(data: dict[str, Any], key: str, path: Path | str) -> dict[str, Any]:
    """The TOML table `key` of a config (empty when absent), or ConfigError naming the file and key."""
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {key}: must be a table ([{key}]), not {type(value).__name__}")
    return value


def load_config(path: Path | str, env: dict[str, str] | os._Environ | None = None) -> AgentConfig:
    """Load and validate the agent's TOML config; relative paths in it resolve against its folder."""
    path = Path(path)
    cfg = parse_config(read_toml(path), env)
    resolve_paths(cfg, path.resolve().parent)
    return cfg


def resolve_paths(model: BaseModel, base: Path) -> None:
    """Make every relative `Path` in the model tree (lists of them too) relative to `base`, in place."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            resolve_paths(value, base)
        elif isinstance(value, Path):
            setattr(model, name, _resolve(base, value))
        elif isinstance(value, list) and any(isinstance(v, Path) for v in value):
            setattr(model, name, [_resolve(base, v) if isinstance(v, Path) else v for v in value])


def _resolve(base: Path, p: Path) -> Path:
    return p if p.is_absolute() else base / p
