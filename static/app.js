// Keyward's one script. Behaviour that needs more than htmx attributes lives
// here, so the Content-Security-Policy can forbid inline scripts. Every page
// also works without it: links and forms fall back to full pages.
(function () {
  "use strict";

  // Copy buttons and other script-only controls show only when this runs.
  document.documentElement.classList.add("js");

  var opener = null;      // the element that opened the current dialog
  var openerCard = null;  // its credential, to find it again after the list reloads

  function dialogRoot() { return document.getElementById("dialog-root"); }

  function menuButtonOf(element) {
    var menu = element && element.closest("[popover]");
    return menu ? document.querySelector('[popovertarget="' + CSS.escape(menu.id) + '"]') : element;
  }

  // Focus goes back where the dialog came from: the card's "..." menu button,
  // even when the list was re-rendered meanwhile; else the New Credential
  // button; else (its card deleted, or the limit reached) the main region.
  function restoreFocus() {
    var target = null;
    if (opener && document.contains(opener)) target = menuButtonOf(opener);
    if (!target && openerCard) {
      var card = document.querySelector('[data-credential="' + CSS.escape(openerCard) + '"]');
      if (card) target = card.querySelector("[popovertarget]");
    }
    if (!target) target = document.getElementById("new-credential");
    // At the limit New Credential is a disabled button, which cannot take focus.
    if (!target || target.disabled) target = document.getElementById("main");
    if (target) target.focus();
  }

  // Removing the dialog removes any secret it showed from the page.
  function closeDialog() {
    var root = dialogRoot();
    if (!root) return;
    var dialog = root.querySelector("dialog");
    if (dialog && dialog.open) dialog.close();
    root.replaceChildren();
    restoreFocus();
    opener = null;
    openerCard = null;
  }

  function closeMenus() {
    document.querySelectorAll("[popover]:popover-open").forEach(function (menu) { menu.hidePopover(); });
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var root = dialogRoot();
    var source = event.detail.elt;
    if (!root || !source || root.contains(source)) return;
    if (event.detail.target === root) {
      opener = source;
      var card = source.closest("[data-credential]");
      openerCard = card ? card.getAttribute("data-credential") : null;
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var root = dialogRoot();
    if (!root) return;
    if (event.detail.target === root) {
      closeMenus();
      var dialog = root.querySelector("dialog");
      if (!dialog) { restoreFocus(); return; }
      if (!dialog.open) dialog.showModal();
      var first = dialog.querySelector("[autofocus]") || dialog.querySelector("input, button, a[href]");
      if (first) first.focus();
    } else if (event.detail.target.id === "credentials-section" || event.detail.elt.id === "credentials-section") {
      if (!root.querySelector("dialog") && (document.activeElement === document.body || !document.activeElement)) restoreFocus();
    }
  });

  // Escape on a modal dialog fires "cancel" then "close".
  document.addEventListener("close", function (event) {
    var root = dialogRoot();
    if (root && event.target.tagName === "DIALOG" && root.contains(event.target)) closeDialog();
  }, true);

  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-dialog]");
    var root = dialogRoot();
    if (closer && root && root.contains(closer)) {
      event.preventDefault();
      closeDialog();
      return;
    }

    // Copy buttons: <button data-copy="#selector">.
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      // The button's own label is kept once, so a second click never makes
      // "Copied" its label; a live region says it to screen readers.
      if (!button.dataset.label) button.dataset.label = button.innerHTML;
      button.textContent = "Copied";
      clearTimeout(button.copyTimer);
      button.copyTimer = setTimeout(function () { button.innerHTML = button.dataset.label; }, 1500);
      var status = document.getElementById("copy-status");
      if (!status) {
        status = document.createElement("p");
        status.id = "copy-status";
        status.className = "visually-hidden";
        status.setAttribute("role", "status");
        document.body.appendChild(status);
      }
      status.textContent = "";
      setTimeout(function () { status.textContent = "Copied to the clipboard."; }, 50);
    });
  });

  // Selects that submit their form when changed (the button stays for no-JS).
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-autosubmit]");
    if (select && select.form) select.form.requestSubmit();
  });

  // Leaving the page (or it going into the back/forward cache) drops any
  // secret still on it, so Back cannot show it again.
  window.addEventListener("pagehide", function () {
    document.querySelectorAll("[data-secret]").forEach(function (el) { el.remove(); });
  });
})();
