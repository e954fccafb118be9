// Login page: the form posts normally (works without JS); this only guards against a
// double submit and focuses the password field.
(function () {
  "use strict";
  var f = document.getElementById("login-form");
  var pw = document.getElementById("password");
  if (pw) pw.focus();
  if (f) f.addEventListener("submit", function () {
    var b = document.getElementById("login-submit");
    if (b) setTimeout(function () { b.disabled = true; }, 0);
  });
})();
