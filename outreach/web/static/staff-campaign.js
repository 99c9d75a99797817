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

// Each source shows the options of its chosen type only. Without this script
// every option is shown, each saying which types use it, and only the chosen
// type's are read when the form is checked or saved.
(function () {
  "use strict";
  var form = document.getElementById("editor");
  if (!form) {
    return;
  }
  form.classList.add("js");
  function show(source) {
    var chosen = source.querySelector("select[data-source-type]").value;
    var fields = source.querySelectorAll("[data-types]");
    for (var i = 0; i < fields.length; i++) {
      var types = fields[i].getAttribute("data-types").split(" ");
      fields[i].hidden = types.indexOf(chosen) < 0;
    }
  }
  var sources = form.querySelectorAll("[data-source]");
  for (var i = 0; i < sources.length; i++) {
    (function (source) {
      show(source);
      source.querySelector("select[data-source-type]").addEventListener("change", function () {
        show(source);
      });
    })(sources[i]);
  }
})();

// The audience's count follows its fields: the form is posted to the count's
// address as a topic, company size, language or the industries change. Without
// this script the count is the one the page was shown with (Check updates it).
(function () {
  "use strict";
  var form = document.getElementById("editor");
  var shown = document.getElementById("audience-count");
  if (!form || !shown || !form.getAttribute("data-count")) {
    return;
  }
  var url = form.getAttribute("data-count");
  var timer = null;
  function update() {
    var body = new URLSearchParams(new FormData(form));
    body.delete("action");
    body.delete("op");
    fetch(url, { method: "POST", credentials: "same-origin", body: body })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (text) { shown.textContent = text; })
      .catch(function () {});
  }
  form.addEventListener("change", function (event) {
    var name = event.target.getAttribute("name");
    if (["topics", "size_classes", "languages", "industries"].indexOf(name) >= 0) {
      window.clearTimeout(timer);
      timer = window.setTimeout(update, 250);
    }
  });
})();
