// The console's campaign editor: a live preview of each Markdown body. The
// server renders and sanitises it (the same as the issue's), so the preview is
// what the mail shows. Without this script the Check button does the same.
(function () {
  "use strict";
  var form = document.getElementById("editor");
  if (!form) {
    return;
  }
  var url = form.getAttribute("data-live");
  var token = form.querySelector("input[name=csrf_token]").value;
  var boxes = form.querySelectorAll("textarea[data-preview]");
  function update(area) {
    var body = new URLSearchParams();
    body.set("csrf_token", token);
    body.set("text", area.value);
    fetch(url, { method: "POST", credentials: "same-origin", body: body })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        // Sanitised on the server to a few tags with http(s)/mailto links.
        document.getElementById(area.getAttribute("data-preview")).innerHTML = html;
      })
      .catch(function () {});
  }
  for (var i = 0; i < boxes.length; i++) {
    (function (area) {
      var timer = null;
      area.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () { update(area); }, 400);
      });
    })(boxes[i]);
  }
})();
