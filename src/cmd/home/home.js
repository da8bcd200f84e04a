// Progressive: while the notebook is in a state it leaves on its own (or a job runs), ask
// /state every few seconds and, once it settles, swap in the server's new card: no full
// reload, and the page works the same without this script (a <noscript> refresh does it).
"use strict";
(function () {
  var card = document.getElementById("card");
  if (!card || card.dataset.busy !== "true") return;
  var status = document.getElementById("status");
  function poll() {
    fetch("/state", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (s) {
        if (s.status && status && !s.busy) status.textContent = s.status;
        if (s.busy) { setTimeout(poll, 3000); return; }
        return fetch("/", { credentials: "same-origin", cache: "no-store" })
          .then(function (r) { return r.text(); })
          .then(function (html) {
            var doc = new DOMParser().parseFromString(html, "text/html");
            var fresh = doc.getElementById("card");
            if (fresh) { card.replaceWith(fresh); card = fresh; }
          });
      })
      .catch(function () { setTimeout(poll, 10000); });
  }
  setTimeout(poll, 2000);
})();
