// Show-password buttons. The page works without this script: the button
// stays hidden and the input a plain password input. The script reveals
// each button; pressing it switches its input between hidden and shown
// text, and aria-pressed tells assistive technology which it is (the
// button's translated label, "Show password", stays the same).
"use strict";
document.querySelectorAll("button[data-reveal]").forEach(function (button) {
  var input = document.getElementById(button.getAttribute("aria-controls"));
  if (!input) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    var show = input.type === "password";
    input.type = show ? "text" : "password";
    button.setAttribute("aria-pressed", show ? "true" : "false");
  });
  // A password must not be submitted, or remembered by the browser, as
  // shown text.
  if (input.form) {
    input.form.addEventListener("submit", function () {
      input.type = "password";
      button.setAttribute("aria-pressed", "false");
    });
  }
});
