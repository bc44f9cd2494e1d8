// A table wider than a phone scrolls inside its own box (console.css). A keyboard user must be
// able to scroll it too: each table that overflows becomes a tab stop, and stops being one
// when the window grows wide enough to show it whole.
(function () {
  "use strict";
  function mark() {
    document.querySelectorAll("main table").forEach(function (table) {
      if (table.scrollWidth > table.clientWidth + 1) {
        table.setAttribute("tabindex", "0");
      } else if (table.getAttribute("tabindex") === "0") {
        table.removeAttribute("tabindex");
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mark);
  } else {
    mark();
  }
  window.addEventListener("resize", mark);
})();
