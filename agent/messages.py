"""What the gate itself says (not the rules): screen titles and local denial reasons, zh-CN first, English beside."""

from __future__ import annotations

from protocols.events import RuleResult

PROMPT = ("请出示健康码", "Please show your code")
MEASURE = ("请测量体温", "Please measure your temperature")
REMEASURE = ("读数异常，请重新测温", "Reading out of range: please measure again")
ADMIT = ("请通行", "Please enter")
DENY = ("禁止通行", "Entry refused")
REFER = ("请联系值班人员", "Please see the guard")
REST = ("体温偏高，请休息后复测", "Temperature high: please rest, then measure again")
THERMOMETER_DOWN = ("测温仪未连接", "Thermometer unavailable")
CAMERA_DOWN = ("摄像头故障，正在重连", "Camera unavailable: reconnecting")
FIRE_ALARM = ("消防报警，闸门常开", "Fire alarm: barrier held open")
MANUAL = ("人工放行", "Admitted by the guard")
MANUAL_DENY = ("人工拒绝", "Refused by the guard")

# Why a code was refused before any rule ran, by the stable reason of protocols.errors.
CODE_REASONS: dict[str, tuple[str, str]] = {
    "unreadable": ("无法识别的码", "This is not a code we can read"),
    "bad_prefix": ("不是健康码", "This is not a health code"),
    "bad_base45": ("健康码已损坏", "The code is damaged"),
    "bad_zlib": ("健康码已损坏", "The code is damaged"),
    "bad_cose": ("健康码已损坏", "The code is damaged"),
    "bad_cbor": ("健康码已损坏", "The code is damaged"),
    "bad_claims": ("健康码内容无效", "The code's contents are invalid"),
    "oversized": ("健康码过大", "The code is too large"),
    "unknown_key": ("签发机构不受信任", "The code's issuer is not trusted"),
    "bad_signature": ("签名无效（伪造码）", "The signature does not verify (forged code)"),
    "key_not_allowed": ("签发机构无权签发此码", "The issuer may not sign this code"),
    "key_expired": ("签发密钥已过期", "The issuer's key has expired"),
    "expired": ("健康码已过期", "The code has expired"),
    "not_yet_valid": ("健康码尚未生效", "The code is not valid yet"),
    "issued_too_long_ago": ("请出示实时健康码，不接受截图", "Please show a live code, not a screenshot"),
    "revoked": ("健康码已被撤销", "The code has been revoked"),
}

LOCAL_REASONS: dict[str, tuple[str, str]] = {
    "anti_passback": ("已通行，请勿重复进入", "Already admitted: no second entry"),
    "no_reading": ("未测体温，请测温后重新扫码", "No temperature reading: measure, then scan again"),
    "thermometer_unavailable": ("测温仪不可用，请联系值班人员", "Thermometer unavailable: please see the guard"),
    "temperature_recheck": ("体温偏高，请休息后复测", "Temperature high: please rest, then measure again"),
    "rest_first": ("请继续休息后再复测", "Please rest a little longer before measuring again"),
    "fever": ("两次体温异常，请前往发热门诊", "Two high readings: please go to the fever clinic"),
    "no_rules": ("本机未加载规则，请联系值班人员", "No rules loaded at this gate: please see the guard"),
}


def code_reason(reason: str | None) -> RuleResult:
    """A refusal before the rules ran (unreadable, forged, expired...) as one rule result."""
    key = reason or "unreadable"
    zh, en = CODE_REASONS.get(key, CODE_REASONS["unreadable"])
    return RuleResult(rule=f"code.{key}", outcome="FAIL", message_zh=zh, message_en=en)


def local_reason(key: str) -> RuleResult:
    """A refusal the gate itself makes (anti-passback, no reading, fever re-check...)."""
    zh, en = LOCAL_REASONS[key]
    return RuleResult(rule=f"gate.{key}", outcome="FAIL", message_zh=zh, message_en=en)
