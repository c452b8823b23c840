// Checkout: show what applies to the chosen delivery and payment. Display only: the server checks
// every combination and recomputes every amount; without this script the page still works.
(function () {
  "use strict";
  var form = document.querySelector(".checkout__form");
  if (!form) { return; }
  var shipping = document.getElementById("shipping-options");
  var address = document.getElementById("delivery-address");
  var boutique = document.getElementById("boutique-details");
  var collectHint = document.querySelector("[data-collect-hint]");

  function chosenShipping() {
    return shipping ? shipping.querySelector("input[name=shipping_method]:checked") : null;
  }

  // Totals are formatted by the server for each delivery option; this only swaps the text.
  function updateTotals(checked) {
    document.querySelectorAll("[data-shipping-target]").forEach(function (el) {
      el.textContent = checked.getAttribute("data-shipping-label");
    });
    document.querySelectorAll("[data-total-target]").forEach(function (el) {
      el.textContent = checked.getAttribute("data-total-label");
    });
  }

  // Collection needs no delivery address, and "pay on collection" needs collection.
  function updateDelivery() {
    var checked = chosenShipping();
    if (!checked) { return; }
    updateTotals(checked);
    var collecting = checked.value === "collect";
    if (address) { address.hidden = collecting; }
    if (boutique) { boutique.hidden = !collecting; }
    if (collectHint) { collectHint.hidden = true; }
    form.querySelectorAll("[data-collection-only]").forEach(function (label) {
      var radio = label.querySelector("input");
      label.hidden = !collecting;
      radio.disabled = !collecting;
      if (!collecting && radio.checked) {
        radio.checked = false;
        var other = form.querySelector("input[name=payment_method]:not([disabled])");
        if (other) { other.checked = true; }
      }
    });
  }

  // A saved address replaces the typed one, so its fields are hidden while one is chosen; typing
  // into them means "the address below".
  var fields = document.getElementById("address-fields");
  var saved = document.getElementById("saved-addresses");
  function updateSaved() {
    if (!saved || !fields) { return; }
    var choice = saved.querySelector("input[name=saved_address]:checked");
    fields.hidden = Boolean(choice && choice.value);
  }

  // The gift message is counted, never cut: the server refuses one that is too long.
  function counter(textarea, output) {
    var limit = parseInt(textarea.getAttribute("data-max-length"), 10);
    function update() {
      var length = textarea.value.replace(/\r\n/g, "\n").trim().length;
      output.textContent = length + " of " + limit + " characters" + (length > limit ? ": " + (length - limit) + " too many" : "");
      output.classList.toggle("field__count--over", length > limit);
    }
    output.hidden = false;
    textarea.addEventListener("input", update);
    update();
  }

  if (shipping) { shipping.addEventListener("change", updateDelivery); }
  if (saved) { saved.addEventListener("change", updateSaved); }
  document.querySelectorAll("[data-count-for]").forEach(function (output) {
    var textarea = document.getElementById(output.getAttribute("data-count-for"));
    if (textarea) { counter(textarea, output); }
  });
  updateDelivery();
  updateSaved();
})();
