/* Direct photo uploads for the admin's "Add product photo" form (issue #5).
 *
 * When the form carries data-presign-url (S3 storage), the chosen file is sent straight to the
 * bucket with a presigned POST, and the form is then submitted with the signed token instead of
 * the bytes. Any failure falls back to an ordinary upload through the shop, which applies the
 * same checks. Without JavaScript the form simply posts the file.
 */
(function () {
  "use strict";

  function setStatus(form, text) {
    var status = form.querySelector("[data-upload-status]");
    if (status) {
      status.textContent = text;
    }
  }

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function presign(form) {
    return fetch(form.dataset.presignUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(form) },
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("presign failed: " + response.status);
      }
      return response.json();
    });
  }

  function sendToBucket(policy, file) {
    var body = new FormData();
    Object.keys(policy.fields).forEach(function (name) {
      body.append(name, policy.fields[name]);
    });
    body.append("Content-Type", file.type || "application/octet-stream");
    body.append("file", file); // S3 ignores any field after the file, so it goes last
    return fetch(policy.url, { method: "POST", body: body }).then(function (response) {
      if (!response.ok) {
        throw new Error("upload failed: " + response.status);
      }
      return policy.token;
    });
  }

  function onSubmit(event) {
    var form = event.target;
    var input = form.querySelector("input[type=file][name=file]");
    var token = form.querySelector("input[name=upload_token]");
    if (!input || !token || !input.files.length || form.dataset.sent === "yes") {
      return; // nothing to send directly: let the browser post the form
    }
    event.preventDefault();
    var file = input.files[0];
    form.dataset.sent = "yes";
    setStatus(form, "Uploading " + file.name + " to image storage…");
    presign(form)
      .then(function (policy) {
        if (file.size > policy.max_bytes) {
          var error = new Error("too large");
          error.limit = policy.max_bytes;
          throw error;
        }
        return sendToBucket(policy, file);
      })
      .then(function (value) {
        token.value = value;
        input.value = ""; // the bytes are in the bucket already; do not send them twice
        setStatus(form, "Uploaded. Checking the photo and making renditions…");
        form.submit();
      })
      .catch(function (error) {
        if (error.limit) {
          form.dataset.sent = "";
          setStatus(form, "The file is larger than " + Math.round(error.limit / 1048576) + " MB; export a smaller one.");
          return;
        }
        // Network, CORS or policy refusal: the shop checks the same file the ordinary way.
        setStatus(form, "Direct upload failed; sending the photo through the shop instead…");
        form.submit();
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-presign-url]").forEach(function (form) {
      form.addEventListener("submit", onSubmit);
    });
  });
})();
