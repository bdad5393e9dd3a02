// Docket's own behaviour. No inline scripts anywhere: the CSP forbids them.
(function () {
  "use strict";

  // <form data-confirm="…"> asks before it submits; a submit button with
  // data-confirm-count="… {n} …" names how many boxes are ticked.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    var submitter = event.submitter;
    if (submitter && submitter.hasAttribute("data-confirm-count")) {
      var n = form.querySelectorAll("input[name=cases]:checked").length;
      if (n === 0) {
        window.alert("Select at least one case first.");
        event.preventDefault();
        return;
      }
      question = submitter.getAttribute("data-confirm-count").replace("{n}", String(n));
    }
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);

  // The profile form's what-if panel: changing a threshold asks what that
  // threshold would have cost and caught, before the admin saves.
  document.addEventListener("change", function (event) {
    var select = event.target;
    var table = select.closest && select.closest("table[data-whatif-url]");
    var row = select.closest && select.closest("tr[data-category]");
    if (!table || !row || select.tagName !== "SELECT" || !window.htmx) { return; }
    var params = new URLSearchParams({
      profile: table.getAttribute("data-profile"),
      category: row.getAttribute("data-category"),
      threshold: select.value
    });
    window.htmx.ajax("GET", table.getAttribute("data-whatif-url") + "?" + params.toString(),
                     {target: "#whatif", swap: "innerHTML"});
  });

  // "Select all" on list pages.
  document.addEventListener("change", function (event) {
    if (event.target.id === "select-all") {
      var boxes = document.querySelectorAll("input.pick");
      for (var i = 0; i < boxes.length; i++) { boxes[i].checked = event.target.checked; }
    }
  });

  // Reveal blurred sensitive text.
  function reveal() {
    var blurred = document.querySelectorAll("#workspace .evidence.blurred");
    for (var i = 0; i < blurred.length; i++) { blurred[i].classList.remove("blurred"); }
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("button.reveal")) { reveal(); }
  });

  // Keyboard shortcuts on the case page.
  function typing(el) {
    return el && (el.tagName === "INPUT" && el.type !== "radio" && el.type !== "checkbox" ||
      el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }
  function overlay() { return document.getElementById("shortcuts"); }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var box = overlay();
    if (event.key === "Escape") {
      if (box && !box.classList.contains("hidden")) { box.classList.add("hidden"); }
      if (typing(document.activeElement)) { document.activeElement.blur(); }
      return;
    }
    if (typing(document.activeElement)) { return; }
    var workspace = document.getElementById("workspace");
    if (!workspace) { return; }
    var key = event.key.toLowerCase();
    if (event.key === "?") {
      if (box) { box.classList.toggle("hidden"); }
      event.preventDefault();
      return;
    }
    if (key === "r") { reveal(); event.preventDefault(); return; }
    if (key === "c") {
      var category = workspace.querySelector("#decide-form select[name=category]");
      if (category) { category.focus(); event.preventDefault(); }
      return;
    }
    if (/^[1-4]$/.test(key)) {
      var radios = workspace.querySelectorAll("#decide-form input[name=severity]");
      var radio = radios[Number(key) - 1];
      if (radio) { radio.checked = true; event.preventDefault(); }
      return;
    }
    var field = workspace.querySelector("[data-focus-key='" + key + "']");
    if (field) { field.focus(); event.preventDefault(); return; }
    var button = workspace.querySelector("[data-shortcut='" + key + "']");
    if (button && !button.disabled) { button.click(); event.preventDefault(); }
  });

  // The server names the page it swapped in; keep the tab and history titles true.
  document.addEventListener("docket:title", function (event) {
    if (event.detail && event.detail.value) { document.title = event.detail.value + " · Docket"; }
  });

  // After htmx swaps in the next case, start at the top of it.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail && event.detail.target && event.detail.target.id === "workspace") {
      window.scrollTo(0, 0);
    }
  });
})();
