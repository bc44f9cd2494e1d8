// The service booklet's two page behaviours; the pages work without them too.
// 1. The remark's live character counter (the server still enforces the limit).
// 2. "Refresh key table": the key read runs while the page stays, and its row appears when done.
"use strict";

(function remarkCounter() {
  document.querySelectorAll("textarea[data-max-length]").forEach(function (area) {
    var counter = document.getElementById(area.dataset.counter);
    if (!counter) return;
    var max = parseInt(area.dataset.maxLength, 10);
    function update() {
      var count = area.value.length;
      counter.textContent = count > max
        ? counter.dataset.over.replace("{over}", count - max)
        : counter.dataset.template.replace("{count}", count).replace("{max}", max);
      counter.classList.toggle("counter-over", count > max);
    }
    area.addEventListener("input", update);
    update();
  });
})();

(function keyTableRefresh() {
  var form = document.getElementById("key-read-form");
  var section = document.getElementById("key-reading");
  if (!form || !section) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = document.getElementById("key-read-button");
    var progress = document.getElementById("key-read-progress");
    button.disabled = true;
    progress.textContent = progress.dataset.reading;
    // The answer is the whole find page (after the redirect), with the new row or the error
    // next to the station field: its key-reading section replaces this one.
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var replacement = fresh.getElementById("key-reading");
        if (!replacement) throw new Error("no key table in the answer");
        var summary = fresh.getElementById("error-summary");
        var oldSummary = document.getElementById("error-summary");
        if (oldSummary) oldSummary.remove();
        if (summary) section.parentNode.insertBefore(summary, section);
        section.replaceWith(replacement);
        keyTableRefresh();
        var focus = replacement.querySelector(".just-read, .field-error");
        if (focus) { focus.setAttribute("tabindex", "-1"); focus.focus(); }
      })
      .catch(function () {
        button.disabled = false;
        progress.textContent = progress.dataset.failed;
      });
  });
})();
