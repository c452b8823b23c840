// Form error summaries: focus moves to the summary when the page shows one, so keyboard and screen
// reader users hear what to fix; each link then moves focus into its field (not just scrolls to it).
(function () {
  "use strict";
  var summary = document.querySelector("[data-error-summary]");
  if (!summary) { return; }
  summary.focus();
  summary.addEventListener("click", function (event) {
    var link = event.target.closest("a[href^='#']");
    if (!link) { return; }
    var field = document.getElementById(link.getAttribute("href").slice(1));
    if (!field) { return; }
    event.preventDefault();
    // A field in a hidden section (e.g. the address while collecting) is shown before focusing it.
    for (var el = field.parentElement; el; el = el.parentElement) { if (el.hidden) { el.hidden = false; } }
    field.focus();
    field.scrollIntoView({ block: "center" });
  });
})();
