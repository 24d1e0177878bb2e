/* Operator chat workspace. Talks to WS /ws/console (protocol: chat_server/console_ws.py).
 *
 * Modules (all on window.FCWorkspace so the console can extend the page):
 *   conn     – the socket: reconnect forever with jittered backoff (at once after 1012, a worker
 *              restarting), first frame `resume` with `held` (each chat's last seq),
 *              resend unacked messages with their client_id (the server acks a repeat once).
 *   store    – chats by id: summary, messages by seq, unacked messages.
 *   queue    – renders the queue and offers.
 *   tabs     – one tab + panel per chat (roving focus with arrow keys).
 *   chat     – a chat panel: log, typing, composer (message or internal note), end.
 *   on(type, fn) – subscribe to any server frame (e.g. a person panel on "conversation").
 *   panelHooks   – functions(panelEl, chat) called when a chat panel is built (add canned responses,
 *                  transfer, wrap-up...).
 * Every text from a visitor or operator is set with textContent.
 */
(function () {
  "use strict";
  var root = document.getElementById("fcws");
  if (!root) return;
  var me = {id: Number(root.dataset.operatorId), name: root.dataset.displayName};
  var listeners = {};
  var W = window.FCWorkspace = {me: me, chats: {}, panelHooks: [], on: function (type, fn) {
    (listeners[type] = listeners[type] || []).push(fn);
  }};
  function emit(f) { (listeners[f.type] || []).forEach(function (fn) { fn(f); }); }
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
  function uuid() { return crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random(); }
  function announce(text) { $("fcws-announce").textContent = text; }

  /* ---------- conn ---------- */
  var conn = W.conn = {ws: null, attempt: 0};
  conn.send = function (frame) {
    if (conn.ws && conn.ws.readyState === 1) { conn.ws.send(JSON.stringify(frame)); return true; }
    return false;
  };
  conn.open = function () {
    var url = location.origin.replace(/^http/, "ws") + "/ws/console";
    var ws = conn.ws = new WebSocket(url);
    ws.onopen = function () {
      conn.attempt = 0;
      $("fcws-conn").textContent = "Connected";
      // First frame: every open chat with the last seq held, so the server replays only what is
      // missing (a fresh page holds nothing and gets each held chat from the start).
      var held = {};
      Object.keys(W.chats).forEach(function (id) {
        if (W.chats[id].summary.status === "active") held[id] = W.chats[id].lastSeq;
      });
      conn.send({type: "resume", held: held});
      Object.keys(W.chats).forEach(function (id) {
        var c = W.chats[id];
        Object.keys(c.unacked).forEach(function (cid) { conn.send(c.unacked[cid]); });
      });
    };
    ws.onmessage = function (e) { var f = JSON.parse(e.data); handle(f); emit(f); };
    ws.onclose = function (e) {
      if (e.code === 4401) { location.href = "/console/sign-in?next=/console/workspace"; return; }
      $("fcws-conn").textContent = "Connection lost. Reconnecting…";
      // 1012 (service restart): the worker is stopping and another is serving: reconnect at once.
      var delay = e.code === 1012 ? Math.random() * 250 :
        Math.min(30000, 500 * Math.pow(2, conn.attempt++)) * (0.5 + Math.random() / 2);
      setTimeout(conn.open, delay);
    };
  };

  /* ---------- server frames ---------- */
  function handle(f) {
    switch (f.type) {
      case "hello":
        $("fcws-status").value = f.operator.status === "offline" ? "away" : f.operator.status;
        if (f.operator.status === "offline") conn.send({type: "status", status: "away"});
        $("fcws-conn").textContent = "Connected as " + f.operator.display_name + " (up to " + f.operator.capacity + " chats)";
        f.conversations.forEach(function (c) {
          if (c.status === "offered") queue.offer({conversation_id: c.conversation_id}); else chat.upsert(c);
        });
        break;
      case "status":
        // A choice the operator has made but not yet sent is theirs: a status the server confirms
        // meanwhile (say the automatic "away" on connecting) must not overwrite it.
        if (!W.statusEdited) $("fcws-status").value = f.status;
        announce("Your status is " + f.status);
        break;
      case "queue": queue.render(f.items); break;
      case "offer": queue.offer(f); break;
      case "offer_withdrawn": queue.withdraw(f.conversation_id); announce("An offered chat went back to the queue"); break;
      case "conversation": chat.upsert(f); break;
      case "message": chat.message(f); break;
      case "ack": chat.ack(f); break;
      case "typing": chat.typing(f); break;
      case "ended": chat.ended(f.conversation_id); break;
      case "released": chat.ended(f.conversation_id, "This chat went back to the queue."); break;
      case "danger": chat.danger(f.conversation_id); break;
      case "error":
        if (f.code !== "busy" && f.code !== "rate_limited") announce(f.message);  // those are resent
        if (f.conversation_id && W.chats[f.conversation_id]) chat.error(f);
        break;
      case "ping": conn.send({type: "pong"}); break;
    }
  }

  /* ---------- queue ---------- */
  var queue = W.queue = {};
  // Waits count up between server updates: each shown wait is its server value plus the time since.
  function waitText(seconds) { return Math.floor(seconds / 60) + "m " + (seconds % 60) + "s"; }
  function ticking(el, waited) {
    el.setAttribute("data-waited", String(waited));
    el.setAttribute("data-since", String(Date.now()));
    return el;
  }
  setInterval(function () {
    document.querySelectorAll("[data-waited]").forEach(function (el) {
      var secs = Number(el.getAttribute("data-waited")) + Math.floor((Date.now() - Number(el.getAttribute("data-since"))) / 1000);
      el.textContent = waitText(secs);
    });
  }, 1000);
  var LANGUAGES = {en: "English", cy: "Welsh"};
  function holding(id) { var c = W.chats[id]; return !!c && c.summary.status === "active"; }
  queue.render = function (items) {
    queue.items = items;
    // A chat this operator holds is not waiting, whatever an update computed before the accept
    // says: it leaves the list as its tab opens, and the others move up a place.
    var waiting = items.filter(function (it) { return !holding(it.conversation_id); });
    if (waiting.length !== items.length) {
      items = waiting.map(function (it, i) { return Object.assign({}, it, {position: i + 1}); });
    }
    var list = $("fcws-queue");
    list.textContent = "";
    $("fcws-queue-summary").textContent = items.length ? items.length + " waiting" : "No chats waiting.";
    items.forEach(function (it) {
      var li = h("li", {"class": it.danger ? "fcws-danger" : ""}, [
        h("p", {"class": "govuk-body govuk-!-margin-bottom-1"}, [
          h("strong", {text: it.position + ". " + it.visitor_name}),
          it.danger ? h("strong", {"class": "govuk-tag govuk-tag--red govuk-!-margin-left-1", text: "Danger"}) : null
        ]),
        h("p", {"class": "govuk-body-s govuk-!-margin-bottom-0"}, [
          document.createTextNode(it.topic + " · waiting "),
          ticking(h("span", {text: waitText(it.waited_seconds)}, []), it.waited_seconds),
          document.createTextNode((it.language && it.language !== "en" ? " · " + (LANGUAGES[it.language] || it.language) : "") +
            (it.status === "offered" ? " · offered" : "") + (it.tripped_over ? " · any POD" : ""))
        ]),
        h("button", {type: "button", "class": "govuk-button govuk-button--secondary", "aria-label": "Accept chat with " + it.visitor_name,
          onclick: function () { conn.send({type: "accept", conversation_id: it.conversation_id}); }, text: "Accept"})
      ]);
      list.appendChild(li);
    });
  };
  queue.offer = function (f) {
    if ($("fcws-offer-" + f.conversation_id)) return;
    // Who is waiting: name, topic, how long, language, danger (details come with live offers).
    var about = f.visitor_name ? [
      h("p", {"class": "govuk-body govuk-!-margin-bottom-1"}, [
        h("strong", {text: f.visitor_name}),
        f.danger ? h("strong", {"class": "govuk-tag govuk-tag--red govuk-!-margin-left-1", text: "Danger"}) : null
      ]),
      h("p", {"class": "govuk-body-s"}, [
        // Not ticking: the offer is a live region, a changing time would be read out every second.
        document.createTextNode((f.topic || "No topic") + " · " + (LANGUAGES[f.language] || f.language || "English") +
          " · waiting " + waitText(f.waited_seconds || 0))
      ])
    ] : [];
    var box = h("div", {"class": "fcws-offer", id: "fcws-offer-" + f.conversation_id, role: "alert"}, [
      h("p", {"class": "govuk-body govuk-!-font-weight-bold govuk-!-margin-bottom-1", text: "A new chat is offered to you."})
    ].concat(about, [
      h("button", {type: "button", "class": "govuk-button", onclick: function () {
        conn.send({type: "accept", conversation_id: f.conversation_id}); box.remove(); }, text: "Accept chat"}),
      h("button", {type: "button", "class": "govuk-button govuk-button--secondary", onclick: function () {
        conn.send({type: "decline", conversation_id: f.conversation_id}); box.remove(); }, text: "Decline"})
    ]));
    $("fcws-offers").appendChild(box);
  };
  queue.withdraw = function (id) { var el = $("fcws-offer-" + id); if (el) el.remove(); };
  queue.taken = function (id) {
    if ((queue.items || []).some(function (it) { return it.conversation_id === id; })) queue.render(queue.items);
  };

  /* ---------- tabs ---------- */
  var tabs = W.tabs = {};
  tabs.select = function (id) {
    Object.keys(W.chats).forEach(function (k) {
      var c = W.chats[k], on = k === id;
      c.tab.setAttribute("aria-selected", String(on));
      c.tab.tabIndex = on ? 0 : -1;
      c.panel.hidden = !on;
      if (on) { c.unread = 0; tabs.label(c); }
    });
    W.current = id;
  };
  tabs.label = function (c) {
    c.tab.textContent = c.summary.visitor_name + (c.summary.status !== "active" ? " (" + (c.summary.endedAs || "ended") + ")" : "");
    if (c.unread) c.tab.appendChild(h("span", {"class": "fcws-unread", text: String(c.unread)}, []));
  };
  tabs.keys = function (e) {
    var ids = Object.keys(W.chats), i = ids.indexOf(W.current);
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      e.preventDefault();
      var next = ids[(i + (e.key === "ArrowRight" ? 1 : ids.length - 1)) % ids.length];
      tabs.select(next); W.chats[next].tab.focus();
    }
  };

  /* ---------- chat ---------- */
  var chat = W.chat = {};
  chat.upsert = function (s) {
    var c = W.chats[s.conversation_id];
    queue.withdraw(s.conversation_id);
    if (c) { c.summary = s; tabs.label(c); queue.taken(s.conversation_id); return c; }
    c = W.chats[s.conversation_id] = {summary: s, lastSeq: 0, unacked: {}, unread: 0};
    var id = s.conversation_id;
    c.tab = h("button", {type: "button", role: "tab", "class": "fcws-tab govuk-body-s", id: "fcws-tab-" + id, "aria-controls": "fcws-panel-" + id,
      onclick: function () { tabs.select(id); }, onkeydown: tabs.keys});
    c.log = h("div", {"class": "fcws-log govuk-body-s", role: "log", "aria-live": "polite", tabindex: "0", "aria-label": "Messages with " + s.visitor_name});
    c.typingEl = h("p", {"class": "fcws-typing", "aria-live": "polite"});
    c.box = h("textarea", {"class": "govuk-textarea", id: "fcws-box-" + id, rows: "3", onkeydown: function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); chat.send(c); }
      else if (!c.typedAt || Date.now() - c.typedAt > 2000) { c.typedAt = Date.now(); conn.send({type: "typing", conversation_id: id}); }
    }});
    c.internal = h("input", {"class": "govuk-checkboxes__input", type: "checkbox", id: "fcws-note-" + id});
    c.heading = h("h3", {"class": "govuk-heading-m", text: s.visitor_name});
    c.panel = h("section", {role: "tabpanel", id: "fcws-panel-" + id, "aria-labelledby": "fcws-tab-" + id, tabindex: "-1"}, [
      c.heading,
      h("p", {"class": "govuk-body-s", text: "Topic: " + s.topic + " · Reference " + s.reference}),
      s.danger ? h("p", {"class": "govuk-warning-text govuk-body govuk-!-font-weight-bold", text: "Danger words used: 999 advice has been shown."}) : null,
      c.log, c.typingEl,
      h("form", {onsubmit: function (e) { e.preventDefault(); chat.send(c); }}, [
        h("div", {"class": "govuk-form-group"}, [
          h("label", {"class": "govuk-label", "for": "fcws-box-" + id, text: "Message to " + s.visitor_name}), c.box]),
        h("div", {"class": "govuk-checkboxes govuk-checkboxes--small govuk-form-group", "data-module": "govuk-checkboxes"}, [
          h("div", {"class": "govuk-checkboxes__item"}, [c.internal,
            h("label", {"class": "govuk-label govuk-checkboxes__label", "for": "fcws-note-" + id, text: "Internal note (never shown to the visitor)"})])]),
        h("div", {"class": "fcws-actions"}, [
          h("button", {type: "submit", "class": "govuk-button", text: "Send"}),
          h("button", {type: "button", "class": "govuk-button govuk-button--warning", onclick: function () {
            if (confirm("End the chat with " + s.visitor_name + "?")) conn.send({type: "end", conversation_id: id}); }, text: "End chat"})
        ])
      ])
    ]);
    $("fcws-tablist").appendChild(c.tab);
    $("fcws-panels").appendChild(c.panel);
    $("fcws-none").hidden = true;
    W.panelHooks.forEach(function (fn) { fn(c.panel, c); });
    tabs.select(id);
    tabs.label(c);
    queue.taken(id);
    announce("Chat with " + s.visitor_name + " opened");
    return c;
  };
  chat.message = function (f) {
    var c = W.chats[f.conversation_id];
    if (!c || f.seq <= c.lastSeq) return;
    c.lastSeq = f.seq;
    delete c.unacked[f.client_id];
    var who = f.sender === "visitor" ? c.summary.visitor_name : f.sender === "system" ? "System" :
      (f.operator ? f.operator.display_name : "Operator");
    var old = c.log.querySelector('[data-client-id="' + CSS.escape(f.client_id) + '"]');
    var li = h("div", {"class": "fcws-msg fcws-msg--" + f.sender + (f.internal ? " fcws-msg--internal" : ""), "data-client-id": f.client_id}, [
      h("span", {"class": "fcws-who", text: who + (f.internal ? " (internal note)" : "")}),
      h("span", {text: f.body}),
      h("span", {"class": "fcws-meta", text: (f.sent_at || "").slice(11, 16)})
    ]);
    if (old) c.log.replaceChild(li, old); else c.log.appendChild(li);
    li.scrollIntoView({block: "nearest"});
    if (f.sender === "visitor") c.typingEl.textContent = "";
    if (W.current !== f.conversation_id && f.sender === "visitor") { c.unread++; tabs.label(c); announce("New message from " + who); }
  };
  chat.send = function (c) {
    var body = c.box.value.trim();
    if (!body) return;
    var frame = {type: "message", conversation_id: c.summary.conversation_id, client_id: uuid(), body: body, internal: c.internal.checked};
    c.unacked[frame.client_id] = frame;
    c.log.appendChild(h("div", {"class": "fcws-msg fcws-msg--operator" + (frame.internal ? " fcws-msg--internal" : ""), "data-client-id": frame.client_id}, [
      h("span", {"class": "fcws-who", text: "You" + (frame.internal ? " (internal note)" : "")}), h("span", {text: body}),
      h("span", {"class": "fcws-meta", text: "sending"})]));
    c.box.value = ""; c.internal.checked = false;
    conn.send(frame);
  };
  chat.ack = function (f) { var c = W.chats[f.conversation_id]; if (c) delete c.unacked[f.client_id]; };
  chat.typing = function (f) {
    var c = W.chats[f.conversation_id];
    if (!c) return;
    c.typingEl.textContent = c.summary.visitor_name + " is typing…";
    clearTimeout(c.typingTimer);
    c.typingTimer = setTimeout(function () { c.typingEl.textContent = ""; }, 4000);
  };
  chat.ended = function (id, text, tabNote) {
    var c = W.chats[id];
    if (!c) return;
    c.summary.status = "ended";
    c.summary.endedAs = tabNote || "ended";
    tabs.label(c);
    c.panel.querySelector("form").hidden = true;
    c.panel.appendChild(h("p", {"class": "govuk-body govuk-!-font-weight-bold", text: text || "This chat has ended."}));
    announce("Chat with " + c.summary.visitor_name + " ended");
  };
  chat.danger = function (id) { announce("Danger words in a chat: it has jumped the queue"); if (W.chats[id]) W.chats[id].summary.danger = true; };
  chat.error = function (f) {
    var c = W.chats[f.conversation_id];
    if (!f.client_id || !c.unacked[f.client_id]) return;
    if (f.code === "busy" || f.code === "rate_limited") {
      // Not stored: keep it and resend the same client_id after the server's delay (jittered), as
      // the widget does; an ack (or a repeat's ack) ends it.
      var delay = (typeof f.retry_after === "number" ? f.retry_after : 1.5) * 1000 * (1 + Math.random() * 0.5);
      setTimeout(function () { if (c.unacked[f.client_id]) conn.send(c.unacked[f.client_id]); }, delay);
      return;
    }
    delete c.unacked[f.client_id];
    var li = c.log.querySelector('[data-client-id="' + f.client_id + '"] .fcws-meta');
    if (li) li.textContent = "not sent: " + f.message;
  };

  $("fcws-status").addEventListener("change", function () { W.statusEdited = true; });
  $("fcws-status-form").addEventListener("submit", function (e) {
    e.preventDefault();
    W.statusEdited = false;
    conn.send({type: "status", status: $("fcws-status").value});
  });
  conn.open();
})();
