// The overview's live part: every element with data-live is fetched again every data-every seconds
// and its content replaced. A failed fetch keeps the last figures and marks them stale.
(function () {
  "use strict";
  function refresh(box) {
    fetch(box.dataset.live, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) { box.innerHTML = html; box.classList.remove("stale"); box.dataset.updated = Date.now(); })
      .catch(function () { box.classList.add("stale"); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live]").forEach(function (box) {
      var every = Math.max(2, parseInt(box.dataset.every || "15", 10)) * 1000;
      setInterval(function () { refresh(box); }, every);
    });
  });
})();
