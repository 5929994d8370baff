// The holder's travel declaration: pick each region by name (province -> city -> district, from the hub's
// own division list: /h/<secret>/divisions), its dates within the last 14 days, and post the whole list.
(function () {
  "use strict";
  var form = document.getElementById("travel-form");
  if (!form) { return; }
  var listUrl = form.getAttribute("data-divisions");
  var earliest = form.getAttribute("data-earliest");
  var today = form.getAttribute("data-today");
  var levels = [form.elements.province, form.elements.city, form.elements.district];
  var stays = document.getElementById("stays");
  var out = document.getElementById("travel-result");

  function say(text, bad) {
    out.textContent = text;
    out.className = bad ? "bad" : "";
  }

  function reset(select) {
    while (select.options.length > 1) { select.remove(1); }
    select.disabled = true;
  }

  function load(select, parent) {
    var url = listUrl + (parent ? "?parent=" + encodeURIComponent(parent) : "");
    return fetch(url, {cache: "no-store", credentials: "same-origin"}).then(function (r) { return r.json(); })
      .then(function (items) {
        items.forEach(function (d) {
          var o = document.createElement("option");
          o.value = d.code;
          o.textContent = d.name;
          if (d.leaf) { o.setAttribute("data-leaf", "1"); }
          select.appendChild(o);
        });
        select.disabled = false;
      });
  }

  levels.forEach(function (select, i) {
    select.addEventListener("change", function () {
      for (var j = i + 1; j < levels.length; j++) { reset(levels[j]); }
      var chosen = select.options[select.selectedIndex];
      if (select.value && !chosen.hasAttribute("data-leaf") && i + 1 < levels.length) {
        load(levels[i + 1], select.value);
      }
    });
  });

  // The region picked: the deepest level whose choice is as precise as a declaration can be.
  function picked() {
    var names = [], code = null;
    levels.forEach(function (select) {
      if (!select.disabled && select.value) {
        var o = select.options[select.selectedIndex];
        names.push(o.textContent);
        if (o.hasAttribute("data-leaf")) { code = select.value; }
      }
    });
    return code ? {code: code, name: names.join("")} : null;
  }

  function addItem(region, name, start, end) {
    var li = document.createElement("li");
    li.setAttribute("data-region", region);
    li.setAttribute("data-start", start);
    li.setAttribute("data-end", end);
    var text = document.createElement("span");
    text.textContent = name + " " + start + " – " + end;
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = "删除 Remove";
    li.appendChild(text);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(remove);
    stays.appendChild(li);
  }

  stays.addEventListener("click", function (ev) {
    if (ev.target.classList.contains("remove")) { ev.target.parentNode.remove(); }
  });

  document.getElementById("stay-add").addEventListener("click", function () {
    var region = picked();
    var start = form.elements.start.value, end = form.elements.end.value;
    if (!region) { say("请选到区县 / Pick the district too", true); return; }
    if (!start || !end || start > end || end < earliest || end > today) {
      say("日期须在近 14 天内，到达不晚于离开 / The dates must lie within the last 14 days, from before to", true);
      return;
    }
    addItem(region.code, region.name, start, end);
    say("");
  });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var list = Array.prototype.map.call(stays.querySelectorAll("li"), function (li) {
      return {region: li.getAttribute("data-region"), start: li.getAttribute("data-start"), end: li.getAttribute("data-end")};
    });
    fetch(form.getAttribute("data-url"), {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify({stays: list})})
      .then(function (r) { return r.json().then(function (b) { return [r.status, b]; }); })
      .then(function (res) {
        say(res[1].message, res[0] !== 200);
        if (res[0] === 200) {
          document.getElementById("travel-last").textContent = "刚刚已申报 / Declared just now";
          document.dispatchEvent(new Event("holder:refresh"));
        }
      });
  });

  load(levels[0], null);
})();
