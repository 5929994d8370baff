"""What a person is shown for the raw values events and records carry: one table, Chinese first.

Every template of the hub's console reads it through one filter (`server.console.blueprint`), and
the rules engine words an OPEN outcome from its input labels, so no page or kiosk shows a token
such as `visitor`, `green`, `OPEN` or `code: expired`.
"""

from __future__ import annotations

from collections.abc import Iterable

Label = tuple[str, str]  # (zh, en)

DISPLAY: dict[str, dict[str, Label]] = {
    "person_class": {
        "staff": ("员工", "staff"), "student": ("学生", "student"), "visitor": ("访客", "visitor"),
        "courier": ("快递员", "courier"), "parent": ("家长", "parent"), "teacher": ("教师", "teacher"),
        "vendor": ("商户", "vendor"), "customer": ("顾客", "customer"),
    },
    "colour": {"green": ("绿码", "green code"), "yellow": ("黄码", "yellow code"), "red": ("红码", "red code")},
    "outcome": {"PASS": ("通过", "passed"), "FAIL": ("未通过", "failed"), "OPEN": ("未检查", "not checked")},
    "decision": {"admit": ("放行", "admitted"), "deny": ("拒绝", "denied"), "refer": ("转人工", "referred")},
    "kind": {
        "decision": ("规则判定", "rules decision"), "manual": ("人工处理", "guard's decision"),
        "fever": ("发热", "fever"), "exit": ("离开", "exit"), "alarm": ("告警", "alarm"),
        "remeasure": ("复测提示", "re-measure prompt"),
    },
    "direction": {"in": ("进入", "entry"), "out": ("离开", "exit")},
    "alert_kind": {  # the hub's alerts (server/alerts.py)
        "red_code": ("红码", "red code"), "positive_test": ("核酸阳性", "positive nucleic-acid test"), "fever": ("发热（复测仍异常）", "fever (second high reading)"),
        "cap_reached": ("场所已满", "venue full"), "gate_offline": ("闸机离线", "gate offline"),
        "thermometer_drift": ("测温仪漂移", "thermometer drift"), "document_expiry": ("文件将过期", "document expiring"),
    },
    "alert_state": {"open": ("待处理", "open"), "overdue": ("已逾期", "overdue"), "acked": ("已确认", "acknowledged")},
    "reason": {  # protocols/errors.py's credential reason codes (a refused code's note)
        "unreadable": ("无法识读", "unreadable"), "bad_prefix": ("不是健康码", "not a health code"),
        "bad_base45": ("编码损坏", "damaged encoding"), "bad_zlib": ("数据损坏", "damaged data"),
        "bad_cose": ("签名结构损坏", "damaged signature structure"), "bad_cbor": ("数据损坏", "damaged data"),
        "bad_claims": ("内容不完整", "incomplete content"), "oversized": ("数据过大", "too large"),
        "unknown_key": ("签发者未知", "unknown issuer"), "bad_signature": ("签名无效", "invalid signature"),
        "key_not_allowed": ("签发者无此权限", "issuer not allowed"), "key_expired": ("签发密钥已过期", "issuer key expired"),
        "expired": ("已过期", "expired"), "not_yet_valid": ("尚未生效", "not yet valid"),
        "issued_too_long_ago": ("签发过久", "issued too long ago"), "revoked": ("已撤销", "revoked"),
    },
    "venue_kind": {
        "factory": ("工厂", "factory"), "school": ("学校", "school"), "kindergarten": ("幼儿园", "kindergarten"),
        "market": ("市场", "market"), "canteen": ("食堂", "canteen"), "office": ("办公楼", "office"),
        "village": ("村庄", "village"),
    },
    "gate_status": {"online": ("在线", "online"), "offline": ("离线", "offline")},
    "status_source": {  # where a person's status came from (server/status_feeds.py, the holder's page)
        "authority": ("卫健部门", "health authority"), "lab": ("检测机构", "lab"),
        "manual": ("人工录入", "manual entry"), "declaration": ("本人申报", "holder's declaration"),
    },
    "test_result": {"negative": ("阴性", "negative"), "positive": ("阳性", "positive")},
    "document": {  # protocols/contract.py DocumentKind
        "bundle": ("规则包", "rules bundle"), "parameters": ("参数", "parameters"), "risk_areas": ("风险地区", "risk areas"),
        "trustlist": ("信任列表", "trust list"), "roster": ("名册", "roster"), "appointments": ("访客预约", "appointments"),
    },
    "audit": {  # the audit trail's actions (server/console/access.py, server/auth.py, server/login_guard.py)
        "api.events": ("接口查询访问记录", "API: access log read"), "api.out_of_scope": ("接口越权访问", "API: outside scope"),
        "console.out_of_scope": ("控制台越权访问", "console: outside scope"), "denial.review": ("复核拒绝记录", "denial reviewed"),
        "denial.view": ("查看拒绝详情", "denial viewed"), "denials.list": ("查看拒绝记录", "denials listed"),
        "device.revoke": ("吊销设备", "device revoked"), "document.publish": ("发布文件", "document published"),
        "gate.create": ("添加闸机", "gate added"), "gate.enroll_token": ("生成注册令牌", "enrolment token made"),
        "report.file": ("填报日报告", "report filed"), "reservation.create": ("预约名额", "place reserved"),
        "venue.create": ("添加场所", "venue added"), "venue.settings": ("修改场所设置", "venue settings changed"),
        "venue.update": ("修改场所", "venue changed"), "visit.create": ("登记访客", "visit requested"),
        "visit.approve": ("批准访客", "visit approved"), "visit.refuse": ("拒绝访客", "visit refused"),
        "visitors.list": ("查看访客", "visitors listed"), "login": ("登录", "signed in"),
        "login.failed": ("登录失败", "sign-in failed"), "login.rate_limited": ("登录次数超限", "sign-in rate limited"),
        "lease.reclaim": ("收回名额", "places reclaimed"), "logout": ("退出", "signed out"),
        "gate.command": ("向闸机发送指令", "command sent to a gate"),
    },
    "command": {  # protocols/topics.py COMMANDS, as the fleet page names them
        "open": ("开闸一次", "open once"), "reload": ("重新加载文件", "reload documents"),
        "sync": ("立即同步", "sync now"), "renew_lease": ("续借名额", "renew places"),
        "guard_on": ("开启值守模式", "guard mode on"), "guard_off": ("关闭值守模式", "guard mode off"),
        "replay": ("规则包预演", "replay a candidate bundle"),
    },
    "command_state": {  # server/store_commands.py command_state
        "ok": ("闸机已执行", "done by the gate"), "refused": ("闸机未执行", "refused by the gate"),
        "timeout": ("超时未确认", "timed out"), "waiting": ("等待闸机确认", "waiting for the gate"),
    },
    "input": {  # what a rule reads, by the first two parts of its path (an OPEN rule names the missing ones)
        "external.reading": ("体温读数", "temperature reading"), "external.mask": ("口罩检查", "mask check"),
        "external.appointment": ("访客预约", "visit appointment"), "external.roster": ("名册", "roster"),
        "external.person": ("在场记录", "presence record"), "external.riskAreas": ("风险地区表", "risk areas list"),
        "external.code": ("健康码核验", "code check"), "external.venue": ("场所模式", "venue mode"),
        "external.goods": ("货物检查", "goods check"), "external.validationClock": ("时间", "time"),
        "payload.test": ("检测记录", "test record"), "payload.stays": ("行程记录", "travel record"),
        "payload.colour": ("健康码颜色", "code colour"), "payload.class": ("人员类别", "person class"),
        "payload.exp": ("有效期", "expiry"), "payload.hcert": ("欧盟证书", "EU certificate"),
        "payload.sub": ("通行码标识", "pass subject"), "payload.format": ("码的格式", "code format"),
    },
}


def label(group: str, value: object) -> Label:
    """A value's (zh, en) label in a group; an unknown value is shown as itself in both (never dropped)."""
    if value is None or value == "":
        return ("—", "")
    text = str(value)
    return DISPLAY.get(group, {}).get(text, (text, text))


def input_label(path: str) -> Label:
    """The label of a rule's input path (`external.reading.celsius10?` -> 体温读数 / temperature reading)."""
    key = ".".join(path.rstrip("?").split(".")[:2])
    return DISPLAY["input"].get(key, (key, key))


def not_checked(paths: Iterable[str]) -> Label:
    """The message of an OPEN rule: "not checked: missing X" with the inputs it lacked (zh, en)."""
    labels = list(dict.fromkeys(input_label(p) for p in paths))
    if not labels:
        return "未检查：无法判定", "not checked: could not be evaluated"
    return ("未检查：缺少" + "、".join(zh for zh, _ in labels),
            "not checked: missing " + ", ".join(en for _, en in labels))


def note_label(note: str | None) -> Label:
    """A gate's note as shown: "code: expired" becomes 健康码：已过期 / code: expired; other notes as written."""
    if not note:
        return ("—", "")
    for prefix, zh in (("exit code: ", "离场码"), ("code: ", "健康码")):
        if note.startswith(prefix):
            zh_reason, en_reason = label("reason", note[len(prefix):])
            return f"{zh}：{zh_reason}", f"{prefix}{en_reason}"
    return (note, "")
