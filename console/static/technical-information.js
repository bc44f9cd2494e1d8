// The document page: zoom the wiring diagram (buttons, Ctrl + wheel) and print the page.
(function () {
  "use strict";
  var view = document.getElementById("ti-diagram");
  var level = document.getElementById("ti-zoom-level");
  var scale = 1;
  function apply() {
    var drawing = view && view.querySelector("svg");
    if (!drawing) { return; }
    drawing.style.width = (scale * 100) + "%";
    drawing.style.height = "auto";
    if (level) { level.textContent = Math.round(scale * 100) + " %"; }
  }
  function zoom(direction) {
    if (direction === "in") { scale = Math.min(scale * 1.25, 8); }
    else if (direction === "out") { scale = Math.max(scale / 1.25, 0.5); }
    else { scale = 1; }
    apply();
  }
  document.querySelectorAll("[data-ti-zoom]").forEach(function (button) {
    button.addEventListener("click", function () { zoom(button.getAttribute("data-ti-zoom")); });
  });
  if (view) {
    view.addEventListener("wheel", function (event) {
      if (!event.ctrlKey) { return; }
      event.preventDefault();
      zoom(event.deltaY < 0 ? "in" : "out");
    }, { passive: false });
    apply();
  }
  document.querySelectorAll("[data-ti-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
