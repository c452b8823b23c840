// Checkout: keep the shown delivery cost and total in step with the chosen delivery method.
// Display only; the server recomputes every amount when the order is placed.
(function () {
  "use strict";
  var options = document.getElementById("shipping-options");
  var goods = document.querySelector("[data-goods-total]");
  if (!options || !goods) { return; }
  var symbol = "£";
  function money(value) {
    var whole = Math.round(value * 100) % 100 === 0;
    return symbol + value.toLocaleString("en-GB", { minimumFractionDigits: whole ? 0 : 2, maximumFractionDigits: 2 });
  }
  function update() {
    var checked = options.querySelector("input[name=shipping_method]:checked");
    if (!checked) { return; }
    var cost = parseFloat(checked.getAttribute("data-cost"));
    var total = parseFloat(goods.getAttribute("data-goods-total")) + cost;
    document.querySelectorAll("[data-shipping-target]").forEach(function (el) { el.textContent = cost ? money(cost) : "Free"; });
    document.querySelectorAll("[data-total-target]").forEach(function (el) { el.textContent = money(total); });
  }
  options.addEventListener("change", update);
})();
