// The kiosk page: renders the gate's current screen (pushed with Server-Sent Events, with a
// polling fallback) and lets a guard record a manual decision with a PIN.
"use strict";
let countdownTimer = null;

function el(id) { return document.getElementById(id); }

function render(s) {
  document.body.className = s.state;
  el("title-zh").textContent = s.title.zh;
  el("title-en").textContent = s.title.en;
  el("who").textContent = [s.name, s.celsius != null ? s.celsius.toFixed(1) + " °C" : null].filter(Boolean).join(" · ");
  const reasons = el("reasons");
  reasons.replaceChildren(...s.reasons.map(r => {
    const li = document.createElement("li");
    li.textContent = r.zh;
    const en = document.createElement("span");
    en.className = "en";
    en.textContent = r.en;
    li.appendChild(en);
    return li;
  }));
  // Whether the supervisors know: "will be reported" until the hub confirms it holds the alert.
  el("report").textContent = s.report ? s.report.zh + " · " + s.report.en : "";
  el("faults").replaceChildren(...s.faults.map(f => {
    const li = document.createElement("li");
    li.textContent = f.zh + " · " + f.en;
    return li;
  }));
  startCountdown(s.countdown_s);
}

function startCountdown(seconds) {
  clearInterval(countdownTimer);
  const box = el("countdown");
  if (seconds == null) { box.textContent = ""; return; }
  let left = Math.round(seconds);
  const draw = () => { box.textContent = left > 0 ? left + " 秒 · s" : ""; };
  draw();
  countdownTimer = setInterval(() => { left -= 1; draw(); if (left <= 0) clearInterval(countdownTimer); }, 1000);
}

function listen() {
  if (!window.EventSource) { poll(); return; }
  const source = new EventSource("events");
  source.onmessage = e => render(JSON.parse(e.data));
  source.onerror = () => { source.close(); setTimeout(listen, 2000); };
}

async function poll() {
  try { render(await (await fetch("state")).json()); } catch (err) { /* hub-less gate: try again */ }
  setTimeout(poll, 500);
}

el("guard-open").onclick = () => { el("guard").hidden = false; el("guard-operator").focus(); };
el("guard-cancel").onclick = () => { el("guard").hidden = true; el("guard-status").textContent = ""; };
el("guard").onsubmit = async e => {
  e.preventDefault();
  const body = {
    operator: el("guard-operator").value, pin: el("guard-pin").value,
    reason: el("guard-reason").value, decision: e.submitter ? e.submitter.value : "deny",
  };
  const r = await fetch("guard", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const answer = await r.json();
  el("guard-status").textContent = answer.message.zh + " · " + answer.message.en;
  el("guard-pin").value = "";
  if (r.ok) { el("guard-reason").value = ""; setTimeout(() => { el("guard").hidden = true; el("guard-status").textContent = ""; }, 1500); }
};

listen();
