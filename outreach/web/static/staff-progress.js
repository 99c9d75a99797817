// The console's issue page: follow a send's progress without reloading the page.
// Polls the page's progress endpoint every two seconds while the send runs and
// writes the counts into the table; when the send is over, the page is loaded
// once more to show the results. A pre-flight check started when the page was
// asked for is waited for the same way. No inline script: the console's CSP allows
// only scripts from this site.
(function () {
  "use strict";
  // Never reload over an action the person has started: a form being sent wins.
  // Nor over a page the person is leaving for another (a link, the address bar):
  // a reload then would cancel that navigation.
  var submitting = false;
  document.addEventListener("submit", function () { submitting = true; }, true);
  window.addEventListener("beforeunload", function () { submitting = true; });
  // A pre-flight check running after the page answered: reload once it is stored.
  var checking = document.getElementById("checking");
  if (checking) {
    var checkUrl = checking.getAttribute("data-url");
    var tries = 0;
    var waitCheck = function () {
      tries += 1;
      if (tries > 60) {
        return;
      }
      fetch(checkUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) {
          if (data.checked) {
            if (!submitting) { window.location.reload(); }
          } else {
            window.setTimeout(waitCheck, 1500);
          }
        })
        .catch(function () { window.setTimeout(waitCheck, 10000); });
    };
    window.setTimeout(waitCheck, 1500);
  }
  var box = document.getElementById("progress");
  if (!box || box.getAttribute("data-live") !== "yes") {
    return;
  }
  var url = box.getAttribute("data-url");
  function update(data) {
    var cells = box.querySelectorAll("[data-count]");
    for (var i = 0; i < cells.length; i++) {
      var key = cells[i].getAttribute("data-count");
      if (Object.prototype.hasOwnProperty.call(data.counts, key)) {
        cells[i].textContent = String(data.counts[key]);
      }
    }
    if (data.finished) {
      if (!submitting) { window.location.reload(); }
      return;
    }
    window.setTimeout(poll, 2000);
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(update)
      .catch(function () { window.setTimeout(poll, 10000); });
  }
  window.setTimeout(poll, 2000);
})();
