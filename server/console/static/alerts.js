// The alert badge and sound of every console page (issue 12): follows /console/alerts/stream, a
// bounded server-sent-events stream the browser reconnects to by itself (the server's `retry:`).
// The sound is made here with Web Audio: no file, nothing loaded from elsewhere.
(function () {
  "use strict";
  var badge = document.getElementById("alert-badge");
  if (!badge || !window.EventSource) { return; }
  var heard = localStorage.getItem("checkpoint-alert-newest") || "";
  window.checkpointAlertBeeps = 0;
  function beep() {
    window.checkpointAlertBeeps += 1;
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      [0, 0.35].forEach(function (at) {
        var osc = ctx.createOscillator(), gain = ctx.createGain();
        osc.frequency.value = 880; gain.gain.value = 0.2;
        osc.connect(gain); gain.connect(ctx.destination);
        osc.start(ctx.currentTime + at); osc.stop(ctx.currentTime + at + 0.2);
      });
    } catch (e) { /* no audio device: the badge still shows */ }
  }
  var source = new EventSource(badge.getAttribute("data-stream"));
  source.addEventListener("alerts", function (msg) {
    var data = JSON.parse(msg.data);
    badge.textContent = String(data.open);
    badge.hidden = data.open === 0;
    badge.title = data.title_zh ? data.title_zh + " / " + data.title_en : "";
    if (data.newest && data.newest > heard) {
      if (heard || data.open > 0) { beep(); }
      heard = data.newest;
      localStorage.setItem("checkpoint-alert-newest", heard);
    }
  });
}());
