// The holder's page "我的通行码": fetch the pass JSON before the shown pass expires, draw the server's QR
// (an SVG data URI), run a clock on the hub's time so a guard tells a live page from a screenshot, and keep
// the last pass while offline until it expires. Nothing here is loaded from outside the hub (CSP 'self').
(function () {
  "use strict";
  var root = document.getElementById("holder");
  var passUrl = root.getAttribute("data-pass-url");
  var zone = root.getAttribute("data-zone") || "Asia/Shanghai";
  var qr = document.getElementById("qr");
  var frame = document.getElementById("frame");
  var nameEl = document.getElementById("name");
  var clock = document.getElementById("clock");
  var countdown = document.getElementById("countdown");
  var notice = document.getElementById("notice");
  var COLOURS = {green: "绿码 Green", yellow: "黄码 Yellow", red: "红码 Red"};
  var last = null;       // the last pass the hub gave: {code_svg, expires_at, ...}
  var offset = 0;        // hub time minus this phone's time, ms
  var timer = null;

  function now() { return Date.now() + offset; }

  function say(text, kind) {
    notice.textContent = text || "";
    notice.className = kind || "";
  }

  function show(pass) {
    last = pass;
    qr.src = pass.qr_svg;
    qr.hidden = false;
    frame.className = "frame " + pass.colour;
    frame.setAttribute("data-colour", pass.colour);
    document.getElementById("colour").textContent = COLOURS[pass.colour] || pass.colour;
    nameEl.textContent = pass.name;
    say("");
  }

  function expire() {
    qr.hidden = true;
    qr.removeAttribute("src");
    frame.className = "frame expired";
    frame.setAttribute("data-colour", "expired");
    say("通行码已过期，请联网刷新 / This pass has expired: connect to refresh it", "bad");
  }

  function schedule(ms) {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(refresh, Math.max(1000, ms));
  }

  function refresh() {
    fetch(passUrl, {cache: "no-store", credentials: "same-origin"}).then(function (r) {
      if (r.status === 404) { throw {gone: true}; }
      return r.json();
    }).then(function (body) {
      offset = Date.parse(body.server_time) - Date.now();
      if (body.ok) {
        show(body);
        schedule(body.refresh_in * 1000);
      } else {
        last = null;
        expire();
        say(body.message, "bad");
        schedule(60000);
      }
    }).catch(function (err) {
      if (err && err.gone) {
        last = null;
        expire();
        say("链接已失效 / This link no longer works", "bad");
        return;
      }
      // Offline: keep the last pass until it expires, and try again soon.
      if (last && Date.parse(last.expires_at) > now()) {
        say("离线：显示上次的通行码 / Offline: showing the last pass", "warn");
      }
      schedule(10000);
    });
  }

  function tick() {
    var t = new Date(now());
    clock.textContent = t.toLocaleString("zh-CN", {timeZone: zone, hour12: false, year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit"});
    if (last) {
      var left = Math.floor((Date.parse(last.expires_at) - now()) / 1000);
      if (left <= 0) {
        last = null;
        expire();
        countdown.textContent = "";
      } else {
        var m = Math.floor(left / 60), s = left % 60;
        countdown.textContent = "剩余 " + m + ":" + (s < 10 ? "0" : "") + s + " left";
      }
    }
  }

  var goodsForm = document.getElementById("goods-form");
  if (goodsForm) {
    goodsForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var line = {};
      ["product", "supplier", "origin", "quantity", "batch", "maker", "report"].forEach(function (k) {
        var v = goodsForm.elements[k].value.trim();
        if (v) { line[k] = v; }
      });
      line.cold_chain = goodsForm.elements.cold_chain.checked;
      fetch(goodsForm.getAttribute("data-url"), {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify({goods: [line]})})
        .then(function (r) { return r.json().then(function (b) { return [r.status, b]; }); })
        .then(function (res) {
          var out = document.getElementById("goods-result");
          out.textContent = res[1].message;
          out.className = res[0] === 200 ? "" : "bad";
          if (res[0] === 200) { refresh(); }
        });
    });
  }

  // The travel declaration (travel.js) asks for a new pass once it is stored.
  document.addEventListener("holder:refresh", refresh);
  setInterval(tick, 1000);
  tick();
  refresh();
})();
