"""What the gate itself says (the rules word their own reasons): screen titles and local denial reasons, zh-CN first, English beside."""

from __future__ import annotations

from protocols.events import RuleResult

PROMPT = ("请出示健康码", "Please show your code")
MEASURE = ("请测量体温", "Please measure your temperature")
ADMIT = ("请通行", "Please enter")
DENY = ("禁止通行", "Entry refused")
REFER = ("请联系值班人员", "Please see the guard")
REST = ("体温偏高，请休息后复测", "Temperature high: please rest, then measure again")
RETEST = ("请稍候复测", "Please rest, then measure again")  # a first abnormal reading: amber, not a refusal
FEVER = ("体温异常，请前往发热门诊", "Abnormal temperature: please go to the fever clinic")
GOODBYE = ("再见", "Goodbye")
# Whether the supervisors know of a red code, a positive test or a fever (agent/outcome.py report_line):
# the kiosk says "reported" only once the hub has confirmed it holds the alert.
WILL_REPORT = ("将上报防疫负责人", "Will be reported to the supervisors")
WILL_REPORT_OFFLINE = ("网络中断：恢复后上报防疫负责人", "Offline: will be reported to the supervisors once the hub is reachable")
REPORTED = ("已上报防疫负责人", "Reported to the supervisors")
WAIT = ("请稍候", "Please wait")  # the venue is full for now: amber, not a red refusal
EXIT_REFER = ("请联系值班人员", "Please ask the guard")
THERMOMETER_DOWN = ("测温仪未连接", "Thermometer unavailable")
THERMOMETER_DRIFT = ("测温仪读数漂移，请联系值班人员校准", "Thermometer readings drifting: please call the guard to recalibrate")
CAMERA_DOWN = ("摄像头故障，正在重连", "Camera unavailable: reconnecting")
FIRE_ALARM = ("消防报警，闸门常开", "Fire alarm: barrier held open")
STORE_DOWN = ("存储故障，闸机暂停使用", "Storage fault: the gate is closed")
STORE_DOWN_REASON = ("无法保存通行记录，请联系值班人员", "Records cannot be saved: please see the guard")
STALLED = ("闸机无响应，暂停通行", "The gate is not responding: closed")
STALLED_REASON = ("可能是存储故障，请联系值班人员", "The storage may have frozen: please see the guard")
MANUAL = ("人工放行", "Admitted by the guard")
MANUAL_DENY = ("人工拒绝", "Refused by the guard")

LOCAL_REASONS: dict[str, tuple[str, str]] = {
    "no_reading": ("未测体温，请测温后重新扫码", "No temperature reading: measure, then scan again"),
    "thermometer_unavailable": ("测温仪不可用，请联系值班人员", "Thermometer unavailable: please see the guard"),
    "mask_no_face": ("未看清面部，请正对摄像头或由值班人员核验口罩", "Face not seen: face the camera, or a guard checks the mask"),
    "rest_first": ("请继续休息后再复测", "Please rest a little longer before measuring again"),
    "bundle_stale": ("规则包已过期，请联系值班人员", "Rule bundle out of date: please see the guard"),
    "trust_list_stale": ("信任列表已过期，请联系值班人员", "Trust list out of date: please see the guard"),
    "clock_behind": ("闸机时钟异常，请联系值班人员", "The gate's clock is wrong: please see the guard"),
    # Readings that may not decide (protocols/readings.py): the person measures again, nothing is recorded.
    "reading_implausible": ("体温读数无效，请正对测温仪重新测量", "Reading not plausible: face the thermometer and measure again"),
    "reading_low": ("体温读数偏低，请靠近测温仪重新测量", "Reading too low: come closer and measure again"),
}


# The venue's cap, enforced by the gate's quota lease (agent/sync.py): same id and words on every gate.
VENUE_FULL = RuleResult(rule="GATE-CAP-01", outcome="FAIL", message_zh="场所已满，请稍候",
                        message_en="The venue is full, please wait")


def local_reason(key: str, outcome: str = "FAIL") -> RuleResult:
    """A refusal the gate itself makes (anti-passback, no reading, fever re-check...); OPEN: it cannot decide."""
    zh, en = LOCAL_REASONS[key]
    return RuleResult(rule=f"gate.{key}", outcome=outcome, message_zh=zh, message_en=en)  # type: ignore[arg-type]


# The alarm a gate records once its store takes writes again (what the hub learns of the outage).
CLOCK_JUMP = RuleResult(rule="GATE-CLOCK-01", outcome="FAIL", message_zh="闸机时钟与中心时间不符，按中心时间判定",
                        message_en="The gate's clock disagrees with the hub's time: decisions use the hub's time")
STORE_FAULT = RuleResult(rule="GATE-STORE-01", outcome="FAIL", message_zh="闸机存储曾不可写，期间暂停通行",
                         message_en="The gate's store could not be written: the gate was closed meanwhile")

# The alarm a gate records when wrong guard PINs lock its kiosk's guard mode (someone may be guessing).
PIN_LOCKED = RuleResult(rule="GATE-PIN-01", outcome="FAIL", message_zh="值班密码多次错误，值班模式已锁定",
                        message_en="Repeated wrong guard PINs: guard mode was locked")

# Guard mode from the hub (a supervisor's command): everyone the rules would admit is referred to the guard.
GUARD_MODE = RuleResult(rule="GATE-GUARD-01", outcome="FAIL", message_zh="值守模式：请值班人员核验后放行",
                        message_en="Guard mode: the guard checks each person before they go in")

# The alarm a gate records when the median of its recent readings leaves the plausible band.
DRIFT_FAULT = RuleResult(rule="GATE-THERM-01", outcome="FAIL", message_zh="测温仪读数中位数偏离正常范围，请校准",
                         message_en="The median of the thermometer's recent readings left the normal band: recalibrate")
