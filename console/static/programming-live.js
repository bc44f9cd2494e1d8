// The live programming page: follows the session's Server-Sent Events (native EventSource)
// and updates the figures, the ECU table, the technician's banner and which actions are
// enabled. Every text arrives translated and formatted by the server; which actions the
// session accepts arrives in the event too (the domain's rule), never decided here.
(function () {
  "use strict";
  var root = document.getElementById("live-session");
  if (!root || root.dataset.final === "true" || !window.EventSource) {
    return;
  }

  function setText(name, value) {
    root.querySelectorAll('[data-live="' + name + '"]').forEach(function (node) {
      node.textContent = value === null || value === undefined ? "" : String(value);
    });
  }

  function ecuRow(ecu) {
    var row = document.createElement("tr");
    row.dataset.ecu = ecu.ecu;
    var name = document.createElement("th");
    name.scope = "row";
    name.textContent = ecu.ecu;
    var status = document.createElement("td");
    status.dataset.cell = "status_label";
    var bar = document.createElement("td");
    var progress = document.createElement("progress");
    progress.max = 100;
    progress.setAttribute("aria-label", ecu.ecu);
    bar.appendChild(progress);
    var done = document.createElement("td");
    done.className = "number";
    done.dataset.cell = "done_text";
    row.append(name, status, bar, done);
    return row;
  }

  function showEcus(ecus) {
    var body = document.querySelector("#ecu-table tbody");
    ecus.forEach(function (ecu) {
      var row = body.querySelector('tr[data-ecu="' + CSS.escape(ecu.ecu) + '"]');
      if (!row) {
        row = ecuRow(ecu);
        body.appendChild(row);
      }
      row.querySelector('[data-cell="status_label"]').textContent = ecu.status_label;
      row.querySelector('[data-cell="done_text"]').textContent = ecu.done_text;
      var progress = row.querySelector("progress");
      progress.value = ecu.percent;
      progress.textContent = ecu.percent + " %";
    });
  }

  function showActions(actions) {
    document.getElementById("resume-button").disabled = !actions.resume;
    document.getElementById("abort-button").disabled = !actions.abort;
    var select = document.getElementById("f-ecu");
    var chosen = select.value;
    select.replaceChildren();
    actions.skippable_ecus.forEach(function (ecu) {
      var option = document.createElement("option");
      option.value = option.textContent = ecu;
      option.selected = ecu === chosen;
      select.appendChild(option);
    });
    document.getElementById("skip-button").disabled = actions.skippable_ecus.length === 0;
  }

  var state = document.getElementById("session-state");
  var announcer = document.getElementById("live-announcer");

  function show(live) {
    ["state_label", "current_ecu", "current_step", "bytes_text", "throughput_text",
      "eta_text", "remaining_text", "reason"].forEach(function (name) {
      setText(name, live[name]);
    });
    var progress = document.getElementById("session-progress");
    progress.value = live.percent;
    progress.textContent = live.percent + " %";
    if (state.dataset.state !== live.state) {
      state.dataset.state = live.state;
      announcer.textContent = live.state_label;
    }
    document.getElementById("technician-banner").hidden = live.state !== "needs_technician";
    showEcus(live.ecus);
    showActions(live.actions);
    if (live.final) {
      root.dataset.final = "true";
      document.getElementById("steering").hidden = true;
      document.getElementById("session-ended").hidden = false;
    }
  }

  var source = new EventSource(root.dataset.events);
  source.addEventListener("progress", function (event) {
    var live = JSON.parse(event.data);
    show(live);
    if (live.final) {
      source.close();
    }
  });
  // Signed out (in another tab, or the session expired): no more progress; on to sign in.
  source.addEventListener("signed-out", function (event) {
    source.close();
    window.location.assign(JSON.parse(event.data).location);
  });
  // The stream ends with the session; the browser reconnects on its own after a network
  // hiccup, and a session that ended in between answers with its final event.
})();
