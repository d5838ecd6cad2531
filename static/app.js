// Keyward's one script. Behaviour that needs more than htmx attributes lives
// here, so the Content-Security-Policy can forbid inline scripts. Every page
// also works without it: links and forms fall back to full pages.
(function () {
  "use strict";

  // Copy buttons and other script-only controls show only when this runs.
  document.documentElement.classList.add("js");

  var opener = null;      // the element that opened the current dialog
  var openerCard = null;  // its credential, to find it again after the list reloads
  var changedCard = null; // the credential a finished action changed, to highlight
  var knownCards = null;  // the credentials before the list reloads, to spot a new one

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

  function formState(dialog) {
    var form = dialog.querySelector("form");
    return form ? new URLSearchParams(new FormData(form)).toString() : "";
  }

  // Closing asks first when it would lose something: a one-time secret not
  // yet copied, or a form changed since it opened.
  function mayClose(dialog) {
    if (!dialog) return true;
    if (dialog.hasAttribute("data-secret") && !dialog.dataset.copied) {
      return window.confirm("You have not copied the secret. Close anyway? It cannot be shown again.");
    }
    if (dialog.dataset.initial !== undefined && formState(dialog) !== dialog.dataset.initial) {
      return window.confirm("Discard your changes?");
    }
    return true;
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
      // After a change (a post), the card it changed, or the one it made,
      // is highlighted once the list reloads.
      var config = event.detail.requestConfig;
      if (config && config.verb === "post") {
        changedCard = openerCard;
        knownCards = cardIds();
      }
      if (!dialog) { restoreFocus(); return; }
      if (!dialog.open) dialog.showModal();
      // A re-rendered form (after an error or a preset) keeps the state it
      // had when it first opened, so its changes still count.
      var before = event.detail.requestConfig && event.detail.requestConfig.elt;
      var previous = before && before.closest && before.closest("dialog");
      if (dialog.hasAttribute("data-guard-changes") && dialog.dataset.initial === undefined) {
        dialog.dataset.initial = previous && previous.dataset.initial !== undefined ? previous.dataset.initial : formState(dialog);
      }
      addCounters(dialog);
      var first = dialog.querySelector("[autofocus]") || dialog.querySelector("input, button, a[href]");
      if (first) first.focus();
    } else if (event.detail.target.id === "credentials-section" || event.detail.elt.id === "credentials-section") {
      highlightChanged();
      if (!root.querySelector("dialog") && (document.activeElement === document.body || !document.activeElement)) restoreFocus();
    }
  });

  function cardIds() {
    return Array.prototype.map.call(document.querySelectorAll("[data-credential]"), function (card) {
      return card.getAttribute("data-credential");
    });
  }

  // The card an action changed (or the one it created) is briefly marked.
  function highlightChanged() {
    var ids = changedCard ? [changedCard] : [];
    if (knownCards) {
      cardIds().forEach(function (id) { if (knownCards.indexOf(id) < 0) ids.push(id); });
    }
    ids.forEach(function (id) {
      var card = document.querySelector('[data-credential="' + CSS.escape(id) + '"]');
      if (!card) return;
      card.classList.add("changed");
      setTimeout(function () { card.classList.remove("changed"); }, 2500);
    });
    changedCard = null;
    knownCards = null;
  }

  // "12 / 50" under fields with a limit, so nothing is cut off unseen.
  function addCounters(scope) {
    scope.querySelectorAll("[data-counter][maxlength]").forEach(function (field) {
      if (field.dataset.counted) return;
      field.dataset.counted = "1";
      var counter = document.createElement("p");
      counter.className = "counter";
      counter.id = field.id + "-counter";
      var update = function () {
        var max = field.maxLength, used = field.value.length;
        counter.textContent = used + " / " + max;
        counter.classList.toggle("at-limit", used >= max);
      };
      update();
      field.addEventListener("input", update);
      field.insertAdjacentElement("afterend", counter);
      var described = field.getAttribute("aria-describedby");
      field.setAttribute("aria-describedby", (described ? described + " " : "") + counter.id);
    });
  }
  addCounters(document);

  // Exact countdowns ("23 h 59 min left") stay exact while the page is open.
  function countdown(until) {
    var minutes = Math.max(0, Math.floor((until - Date.now() / 1000 + 59) / 60));
    if (minutes === 0) return "ending now";
    var days = Math.floor(minutes / 1440), hours = Math.floor(minutes % 1440 / 60), mins = minutes % 60;
    var text;
    if (minutes >= 2880) text = days + " d" + (hours ? " " + hours + " h" : "");
    else if (minutes >= 60) text = Math.floor(minutes / 60) + " h" + (mins ? " " + mins + " min" : "");
    else text = mins + " min";
    return text + " left";
  }
  setInterval(function () {
    document.querySelectorAll("[data-until]").forEach(function (el) {
      el.textContent = countdown(Number(el.getAttribute("data-until")));
    });
  }, 30000);

  // Escape on a modal dialog fires "cancel" then "close".
  document.addEventListener("cancel", function (event) {
    var root = dialogRoot();
    if (root && event.target.tagName === "DIALOG" && root.contains(event.target) && !mayClose(event.target)) {
      event.preventDefault();
    }
  }, true);

  document.addEventListener("close", function (event) {
    var root = dialogRoot();
    if (root && event.target.tagName === "DIALOG" && root.contains(event.target)) closeDialog();
  }, true);

  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-dialog]");
    var root = dialogRoot();
    if (closer && root && root.contains(closer)) {
      event.preventDefault();
      if (mayClose(closer.closest("dialog"))) closeDialog();
      return;
    }

    // Copy buttons: <button data-copy="#selector">.
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var dialog = button.closest("dialog[data-secret]");
      if (dialog && source.closest(".secret-text, #reveal-secret")) dialog.dataset.copied = "1";
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

  // Copying the secret by hand (select, Ctrl+C) counts as copying it.
  document.addEventListener("copy", function () {
    var selection = window.getSelection();
    var node = selection && selection.anchorNode;
    var element = node && (node.nodeType === 1 ? node : node.parentElement);
    var dialog = element && element.closest("dialog[data-secret]");
    if (dialog && element.closest("#reveal-secret")) dialog.dataset.copied = "1";
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
