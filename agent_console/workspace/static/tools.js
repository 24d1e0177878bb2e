/* Workspace tools on top of workspace.js (window.FCWorkspace): canned responses, internal notes
 * marked while typing, transfer, wrap-up link, person panel, offer sound and alert, POD filter with
 * danger first, keyboard shortcuts (Alt+A accept, Alt+N next chat, Alt+C canned responses).
 * Plain text only: everything from the public or staff is set with textContent, never innerHTML.
 */
(function () {
  "use strict";
  var W = window.FCWorkspace;
  if (!W) return;
  var root = document.getElementById("fcws");
  var csrf = root.dataset.csrf;
  function $(id) { return document.getElementById(id); }
  function h(tag, attrs, kids) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") el.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), attrs[k]);
      else el.setAttribute(k, attrs[k]);
    });
    (kids || []).forEach(function (c) { if (c) el.appendChild(c); });
    return el;
  }
  function announce(text) { $("fcws-announce").textContent = text; }
  function getJSON(url) {
    return fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}}).then(function (r) {
      return r.json().then(function (body) { if (!r.ok) throw body; return body; });
    });
  }
  function postJSON(url, data) {
    return fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json"},
      body: JSON.stringify(data)}).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) { if (!r.ok) throw body; return body; });
    });
  }
  function errorSummary(messages) {
    return h("div", {"class": "govuk-error-summary", tabindex: "-1"}, [h("div", {role: "alert"}, [
      h("h2", {"class": "govuk-error-summary__title", text: "There is a problem"}),
      h("div", {"class": "govuk-error-summary__body"}, [h("ul", {"class": "govuk-list govuk-error-summary__list"},
        messages.map(function (m) { return h("li", {text: m}); }))])])]);
  }
  function errorMessages(err) {
    var e = (err && err.error) || {};
    var fields = e.fields || {};
    var list = Object.keys(fields).map(function (k) { return fields[k]; });
    return list.length ? list : [e.message || "Something went wrong. Try again."];
  }

  /* ---------- sound and alert for incoming offers ---------- */
  var audio = null;
  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") audio.resume();
      [0, 0.25].forEach(function (at) {
        var osc = audio.createOscillator(), gain = audio.createGain();
        osc.type = "sine"; osc.frequency.value = 880;
        gain.gain.setValueAtTime(0.0001, audio.currentTime + at);
        gain.gain.exponentialRampToValueAtTime(0.3, audio.currentTime + at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + at + 0.18);
        osc.connect(gain); gain.connect(audio.destination);
        osc.start(audio.currentTime + at); osc.stop(audio.currentTime + at + 0.2);
      });
      W.beeps = (W.beeps || 0) + 1;
    } catch (e) { /* no audio device: the visible alert is enough */ }
  }
  var baseTitle = document.title;
  W.on("offer", function () {
    beep();
    document.title = "New chat offered – " + baseTitle;
    announce("A new chat is offered to you. Press Alt and A to accept.");
  });
  W.on("conversation", function () { document.title = baseTitle; });

  /* ---------- queue: POD filter, danger first ---------- */
  var lastItems = [];
  var originalRender = W.queue.render;
  W.queue.render = function (items) {
    lastItems = items.slice();
    var pod = $("fcws-pod").value;
    var shown = lastItems.filter(function (it) { return !pod || String(it.area_id) === pod; });
    shown.sort(function (a, b) { return (b.danger ? 1 : 0) - (a.danger ? 1 : 0); });
    originalRender(shown);
    if (pod && shown.length !== lastItems.length) {
      $("fcws-queue-summary").textContent = shown.length + " waiting in this POD (" + lastItems.length + " in all)";
    }
  };
  $("fcws-pod").addEventListener("change", function () { W.queue.render(lastItems); });

  /* ---------- canned responses ---------- */
  var dialog = $("fcws-canned"), cannedFor = null, searchTimer = null;
  function searchCanned() {
    var q = $("fcws-canned-q").value, c = W.chats[cannedFor];
    var lang = c && c.summary.language ? c.summary.language : "en";
    getJSON("/console/workspace/canned?q=" + encodeURIComponent(q) + "&language=" + encodeURIComponent(lang)).then(function (body) {
      var list = $("fcws-canned-list");
      list.textContent = "";
      $("fcws-canned-count").textContent = body.items.length ? body.items.length + " found" : "No canned responses match.";
      body.items.forEach(function (item) {
        list.appendChild(h("li", {}, [
          h("p", {"class": "govuk-body govuk-!-font-weight-bold govuk-!-margin-bottom-1", text: item.title}),
          h("p", {"class": "govuk-body-s govuk-!-margin-bottom-1", text: item.category + (item.tags.length ? " · " + item.tags.join(", ") : "")}),
          h("p", {"class": "govuk-body-s govuk-!-margin-bottom-1", text: item.text}),
          h("button", {type: "button", "class": "govuk-button govuk-button--secondary", "aria-label": "Use " + item.title,
            onclick: function () { useCanned(item); }, text: "Use this"})
        ]));
      });
    }).catch(function (err) { $("fcws-canned-count").textContent = errorMessages(err).join(" "); });
  }
  function useCanned(item) {
    var c = W.chats[cannedFor];
    dialog.close();
    if (!c) return;
    c.box.value = item.text;
    c.box.focus();
    // Usage counts show the team what is used; a failed count must never get in the way.
    postJSON("/console/workspace/canned/" + encodeURIComponent(item.id) + "/used", {}).catch(function () {});
    announce("Canned response " + item.title + " put in the message box. Edit it and send.");
  }
  W.openCanned = function (id) {
    if (!id || !W.chats[id] || W.chats[id].summary.status !== "active") return;
    cannedFor = id;
    if (!dialog.open) dialog.showModal();
    $("fcws-canned-q").focus();
    searchCanned();
  };
  $("fcws-canned-q").addEventListener("input", function () { clearTimeout(searchTimer); searchTimer = setTimeout(searchCanned, 200); });
  $("fcws-canned-close").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () { var c = W.chats[cannedFor]; if (c && !c.panel.hidden) c.box.focus(); });

  /* ---------- person panel ---------- */
  var KIND = {report: "Report", chat: "Chat", sms_in: "Text in", sms_out: "Text out"};
  function loadPerson(c) {
    var box = c.personBox;
    getJSON("/console/workspace/chats/" + encodeURIComponent(c.summary.conversation_id) + "/person").then(function (body) {
      box.textContent = "";
      box.appendChild(h("h4", {"class": "govuk-heading-s", text: "About this person"}));
      // Safeguarding: the chat's own answer to "is it safe to text you?" (no texts without a yes).
      box.appendChild(body.safe_to_text
        ? h("p", {"class": "govuk-body-s fcws-texting", text: "Safe to text on " + body.safe_to_text})
        : h("p", {"class": "govuk-body-s fcws-texting"}, [h("strong", {"class": "govuk-tag govuk-tag--red", text: "Not safe to text"})]));
      if (!body.person) { box.appendChild(h("p", {"class": "govuk-body-s", text: "Not linked to a known person yet."})); return; }
      var badges = h("p", {"class": "fcws-badges"});
      if (body.repeat_contact) badges.appendChild(h("strong", {"class": "govuk-tag govuk-tag--orange", text: "Repeat contact"}));
      if (body.double_demand) badges.appendChild(h("strong", {"class": "govuk-tag govuk-tag--red", text: "Double demand"}));
      box.appendChild(h("p", {"class": "govuk-body-s govuk-!-margin-bottom-1", text: body.person.name}));
      if (body.person.phone) box.appendChild(h("p", {"class": "govuk-body-s govuk-!-margin-bottom-1", text: body.person.phone}));
      if (body.person.email) box.appendChild(h("p", {"class": "govuk-body-s govuk-!-margin-bottom-1", text: body.person.email}));
      box.appendChild(badges);
      box.appendChild(h("h5", {"class": "govuk-heading-s govuk-!-margin-bottom-1", text: body.items.length ? "Earlier contacts (" + body.items.length + ")" : "No earlier contacts"}));
      var list = h("ol", {"class": "govuk-body-s"});
      body.items.forEach(function (it) {
        var label = it.report_id ? h("a", {"class": "govuk-link", href: "/console/reports/" + it.report_id, target: "_blank", text: it.label + " (opens in new tab)"}) : h("span", {text: it.label});
        list.appendChild(h("li", {}, [
          h("span", {"class": "govuk-!-font-weight-bold", text: KIND[it.kind] + " · " + it.at.slice(0, 10) + " · "}), label,
          h("span", {text: " · " + it.status}), h("br"), h("span", {text: it.summary})
        ]));
      });
      box.appendChild(list);
    }).catch(function (err) { box.textContent = errorMessages(err).join(" "); });
  }

  /* ---------- transfer ---------- */
  function fillTargets(select) {
    getJSON("/console/workspace/transfer-targets").then(function (t) {  // fresh each time: statuses change
      select.textContent = "";
      select.appendChild(h("option", {value: "", text: "Choose an operator or team"}));
      var ops = h("optgroup", {label: "Operators"}), teams = h("optgroup", {label: "Teams (back to the queue)"});
      t.operators.forEach(function (o) { ops.appendChild(h("option", {value: "op:" + o.id, text: o.name + " (" + o.status + ")"})); });
      t.teams.forEach(function (o) { teams.appendChild(h("option", {value: "team:" + o.id, text: o.name})); });
      select.appendChild(ops); select.appendChild(teams);
    }).catch(function (err) { announce(errorMessages(err).join(" ")); });
  }
  function transferBox(c) {
    var id = c.summary.conversation_id;
    var select = h("select", {"class": "govuk-select", id: "fcws-transfer-to-" + id});
    var note = h("textarea", {"class": "govuk-textarea", id: "fcws-transfer-note-" + id, rows: "2"});
    var errors = h("div", {});
    var details = h("details", {"class": "govuk-details fcws-transfer"}, [
      h("summary", {"class": "govuk-details__summary"}, [h("span", {"class": "govuk-details__summary-text", text: "Transfer this chat"})]),
      h("div", {"class": "govuk-details__text"}, [errors,
        h("form", {onsubmit: function (e) {
          e.preventDefault();
          errors.textContent = "";
          var v = select.value, data = {note: note.value};
          if (v.indexOf("op:") === 0) data.to_operator_id = Number(v.slice(3));
          else if (v.indexOf("team:") === 0) data.to_team_id = Number(v.slice(5));
          postJSON("/console/workspace/chats/" + encodeURIComponent(id) + "/transfer", data).then(function () {
            announce("Chat transferred");
          }).catch(function (err) {
            var box = errorSummary(errorMessages(err)); errors.appendChild(box); box.focus();
          });
        }}, [
          h("div", {"class": "govuk-form-group"}, [h("label", {"class": "govuk-label", "for": select.id, text: "Transfer to"}), select]),
          h("div", {"class": "govuk-form-group"}, [h("label", {"class": "govuk-label", "for": note.id, text: "Note for the colleague (internal, never shown to the visitor)"}), note]),
          h("button", {type: "submit", "class": "govuk-button govuk-button--secondary", text: "Transfer"})
        ])])
    ]);
    details.addEventListener("toggle", function () { if (details.open) fillTargets(select); });
    return details;
  }
  W.on("transferred", function (f) {
    if (!W.chats[f.conversation_id]) return;
    var to = f.to_operator_name || f.to_team_name || "";
    W.chat.ended(f.conversation_id, to ? "This chat was transferred to " + to + "." : "This chat was transferred.",
                 to ? "transferred to " + to : "transferred");
  });

  /* ---------- per chat panel ---------- */
  W.panelHooks.push(function (panel, c) {
    var id = c.summary.conversation_id;
    panel.classList.add("fcws-panel-grid");
    var actions = panel.querySelector(".fcws-actions");
    actions.insertBefore(h("button", {type: "button", "class": "govuk-button govuk-button--secondary",
      onclick: function () { W.openCanned(id); }, text: "Canned responses (Alt+C)"}), actions.children[1]);
    var form = panel.querySelector("form");
    c.syncNote = function () {
      form.classList.toggle("fcws-internal-on", c.internal.checked);
      form.querySelector("label.govuk-label").textContent = c.internal.checked ? "Internal note (staff only)" : "Message to " + c.summary.visitor_name;
    };
    c.internal.addEventListener("change", c.syncNote);
    c.transfer = transferBox(c);
    panel.appendChild(c.transfer);
    panel.appendChild(h("p", {"class": "govuk-body"}, [h("a", {"class": "govuk-link fcws-wrapup", href: "/console/workspace/chats/" + encodeURIComponent(id) + "/wrap-up",
      target: "_blank", text: "Wrap up this chat (opens in new tab)"})]));
    c.personBox = h("aside", {"class": "fcws-person", "aria-label": "About " + c.summary.visitor_name}, [h("p", {"class": "govuk-body-s", text: "Loading…"})]);
    panel.appendChild(c.personBox);
    loadPerson(c);
  });
  var originalSend = W.chat.send;
  W.chat.send = function (c) { originalSend(c); if (c.syncNote) c.syncNote(); };
  var originalEnded = W.chat.ended;
  W.chat.ended = function (id, text, tabNote) {
    originalEnded(id, text, tabNote);
    var c = W.chats[id];
    if (!c) return;
    if (c.transfer) c.transfer.hidden = true;
    var wrap = c.panel.querySelector(".fcws-wrapup");
    if (!wrap) return;
    if (text) { wrap.parentNode.hidden = true; return; }  // transferred or requeued: not ours to wrap up
    wrap.classList.add("govuk-button");
    wrap.classList.remove("govuk-link");
    c.panel.appendChild(wrap.parentNode);
    wrap.focus();
  };

  /* ---------- keyboard shortcuts (Alt+letter by physical key; screen readers use Insert/CapsLock) ---------- */
  document.addEventListener("keydown", function (e) {
    if (!e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.code === "KeyA") {
      e.preventDefault();
      var offer = document.querySelector("#fcws-offers .govuk-button:not(.govuk-button--secondary)") || document.querySelector("#fcws-queue .govuk-button");
      if (offer) offer.click(); else announce("No chat to accept");
    } else if (e.code === "KeyN") {
      e.preventDefault();
      var ids = Object.keys(W.chats);
      if (!ids.length) { announce("You have no chats open"); return; }
      var next = ids[(ids.indexOf(W.current) + 1) % ids.length];
      W.tabs.select(next); W.chats[next].tab.focus();
    } else if (e.code === "KeyC") {
      e.preventDefault();
      W.openCanned(W.current);
    }
  });
})();
