// Docket's own behaviour. No inline scripts anywhere: the CSP forbids them.
(function () {
  "use strict";
  // <form data-confirm="Apply to 12 cases?"> asks before it submits.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);
})();
