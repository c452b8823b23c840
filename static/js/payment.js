// Card payment (issue #11): the card is confirmed inside Stripe's element (a SetupIntent), then our server
// creates and confirms the PaymentIntent for the order's total; 3-D Secure is completed by Stripe's script.
// The order becomes paid only when Stripe's signed webhook reaches the server, never from this page.
(function () {
  "use strict";
  var form = document.getElementById("payment-form");
  if (!form || typeof window.Stripe !== "function") { return; }
  var stripe = window.Stripe(form.getAttribute("data-publishable-key"));
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var button = document.getElementById("payment-submit");
  var message = document.getElementById("payment-message");
  var setupSecret = form.getAttribute("data-setup-secret");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  button.disabled = false;

  function show(text) {
    message.textContent = text;
    message.hidden = !text;
    button.disabled = false;
  }

  function charge(paymentMethod) {
    return fetch(form.getAttribute("data-charge-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ payment_method: paymentMethod })
    }).then(function (response) { return response.json(); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    show("");
    button.disabled = true;
    stripe.confirmCardSetup(setupSecret, { payment_method: { card: card } }).then(function (setup) {
      if (setup.error) { show(setup.error.message || "Your card could not be used. Please check it."); return; }
      var pm = setup.setupIntent.payment_method;
      return charge(typeof pm === "string" ? pm : pm.id).then(function (result) {
        if (result.status === "succeeded" || result.status === "processing") {
          window.location.assign(form.getAttribute("data-done-url"));
        } else if (result.status === "requires_action") {
          return stripe.confirmCardPayment(result.client_secret).then(function (auth) {
            window.location.assign(form.getAttribute(auth.error ? "data-retry-url" : "data-done-url"));
          });
        } else {
          if (result.setup_secret) { setupSecret = result.setup_secret; }
          show(result.message || "The payment did not go through. Please try again.");
        }
      });
    }).catch(function () { show("We could not reach the payment service. Please try again."); });
  });
})();
