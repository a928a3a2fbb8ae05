// Copy buttons for backup-code lists. The page works without this script:
// the codes are plain text and Download is a plain link; the script only
// reveals the Copy button and puts the unused codes on the clipboard.
"use strict";
document.querySelectorAll("button[data-copy-codes]").forEach(function (button) {
  var list = document.getElementById(button.dataset.copyCodes);
  var status = document.getElementById(button.dataset.copyCodes + "-status");
  if (!list || !navigator.clipboard) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    var codes = Array.prototype.map.call(list.querySelectorAll("li:not(.used) code"), function (c) {
      return c.textContent;
    });
    // The status texts come in the page's language from the button.
    navigator.clipboard.writeText(codes.join("\n") + "\n").then(function () {
      status.textContent = button.dataset.copied;
    }, function () {
      status.textContent = button.dataset.copyFailed;
    });
  });
});
