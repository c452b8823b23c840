// "Add to bag" enhancements; the form works without them (radio buttons, the server checks every
// choice and shows what it refuses next to the field).
// - choosing a metal: its name in the legend and the spec table, sizes sold out in it are disabled
// - choosing a metal and size: the variant's price and availability
// - engraving: a live character count; over the limit the field says so and the form is not sent
(function () {
  "use strict";

  var form = document.querySelector("[data-add-to-bag]");
  var dataNode = document.getElementById("variant-data");
  if (!form || !dataNode) return;
  var variants = JSON.parse(dataNode.textContent);
  var priceDisplay = document.querySelector("[data-price-display]");
  var availability = form.querySelector("[data-availability-display]");
  var metalCurrent = form.querySelector("[data-metal-current]");
  var specMetal = document.querySelector("[data-spec-metal]");
  var sized = variants.some(function (v) { return v.size; });

  function checked(name) {
    var input = form.querySelector('input[name="' + name + '"]:checked');
    return input ? input.value : "";
  }

  function update() {
    var metal = checked("metal");
    var size = checked("size");
    var metalInput = form.querySelector('input[name="metal"]:checked');
    if (metalInput) {
      if (metalCurrent) metalCurrent.textContent = metalInput.dataset.label;
      if (specMetal) specMetal.textContent = metalInput.dataset.label;
    }
    form.querySelectorAll('input[name="size"]').forEach(function (input) {
      var inMetal = variants.some(function (v) { return v.metal === metal && v.size === input.value && v.available; });
      var anywhere = variants.some(function (v) { return v.size === input.value && v.available; });
      input.disabled = !inMetal;
      input.parentNode.classList.toggle("is-unavailable", anywhere && !inMetal);
      if (!inMetal && input.checked) input.checked = false;
    });
    size = checked("size");
    var chosen = variants.find(function (v) { return v.metal === metal && (!sized || v.size === size); });
    if (chosen) {
      if (priceDisplay) priceDisplay.textContent = chosen.price;
      if (availability) {
        availability.textContent = chosen.availability;
        availability.classList.toggle("is-low", chosen.low);
        availability.classList.toggle("is-sold-out", !chosen.available);
      }
    } else {
      if (priceDisplay && metalInput) priceDisplay.textContent = metalInput.dataset.price;
      if (availability && sized) {
        availability.textContent = "Choose a size to see availability";
        availability.classList.remove("is-low", "is-sold-out");
      }
    }
    // The gallery script listens for this to show the metal's photo.
    document.dispatchEvent(new CustomEvent("shop:metal", { detail: { metal: metal, variant: chosen ? chosen.id : null } }));
  }

  form.addEventListener("change", function (event) {
    if (event.target.name === "metal" || event.target.name === "size") update();
  });
  update();

  var engraving = form.querySelector("[data-engraving]");
  var counter = form.querySelector("[data-engraving-count]");
  if (engraving && counter) {
    var max = parseInt(engraving.dataset.maxLength, 10);
    var countEngraving = function () {
      // Characters as the server counts them: NFC, so "é" typed as e + accent is one.
      var length = Array.from(engraving.value.normalize("NFC").trim()).length;
      var over = length - max;
      counter.textContent = over > 0
        ? length + " of " + max + " characters: " + over + " too many, please shorten it"
        : length + " of " + max + " characters";
      counter.classList.toggle("is-over", over > 0);
      engraving.setAttribute("aria-invalid", over > 0 ? "true" : "false");
      return over <= 0;
    };
    engraving.addEventListener("input", countEngraving);
    countEngraving();
    form.addEventListener("submit", function (event) {
      if (!countEngraving()) {
        event.preventDefault();
        engraving.focus();
      }
    });
  }
})();
