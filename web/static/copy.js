// The copy button beside a new app password. Without JavaScript the
// button stays hidden and the password is selected by hand.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("copy");
  var secret = document.getElementById("new-password");
  var status = document.getElementById("copied");
  if (!button || !secret || !navigator.clipboard) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(secret.textContent.trim()).then(
      function () { status.textContent = "Copied"; },
      function () { status.textContent = "Copying failed; select the password instead"; }
    );
  });
});
