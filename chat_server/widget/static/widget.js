/* FirstContact live-chat widget. One tag puts it on any page:
 *   <script src="https://chat.example.police.uk/chat/widget.js" defer
 *           data-lang="en" data-forms-url="/report" data-exit-url="https://www.bbc.co.uk/weather"></script>
 * Options (data-*): lang (en|cy), mode (launcher|inline), target (CSS selector for inline),
 * forms-url, exit-url, colour (#rrggbb), force (name shown in the header), page-language ("true":
 * the page has its own language switch, so the widget follows data-lang and shows none).
 * Words: served inside this file from the gettext catalogue (docs/readme/welsh.md). On a page whose
 * origin may not use the chat API (allowed_origins) it says so at once and offers 101 and the forms.
 * Protocol: chat_server/chat/protocol.py. Everything typed by anyone is shown with textContent.
 * The chat's token never goes in a URL: it is the socket's first frame and an Authorization header.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.FirstContactChat) return;
  var ds = script.dataset;
  var base = (ds.base || new URL(script.src, location.href).origin).replace(/\/$/, "");
  var wsBase = base.replace(/^http/, "ws");
  var formsUrl = ds.formsUrl || base + "/report";
  var exitUrl = ds.exitUrl || "https://www.bbc.co.uk/weather";
  var inline = ds.mode === "inline";
  var KEY = "fc-chat:" + base;
  var HEARTBEAT_MS = 50000; // no frame for this long (server pings every 20 s): reconnect

  // The words in every language, from the server's gettext catalogue (chat_server/widget/strings.py),
  // and the origins whose pages may use the chat API (settings: allowed_origins), both written in
  // when this file is served.
  var T = __FC_STRINGS__;
  var ALLOWED_ORIGINS = __FC_ALLOWED_ORIGINS__;
  // On a page that has its own language switch (the hosted chat page), the page's language wins.
  var pageLanguage = ds.pageLanguage === "true";

  var state = load() || {};
  var askedLang = T[ds.lang] ? ds.lang : "en";
  var lang = pageLanguage ? askedLang : (T[state.lang] ? state.lang : askedLang);
  var survey = null, svVals = {}; // the chat's survey (questions + scale) once fetched; answers so far
  var info = null, ws = null, attempt = 0, timer = null, watchdog = null, typingAt = 0, opName = "";
  var pending = state.pending || {}; // client_id -> body, resent after every reconnect until acked
  var els = {};

  function t(key, vars) {
    var s = T[lang][key] || T.en[key] || key;
    Object.keys(vars || {}).forEach(function (k) { s = s.replace("{" + k + "}", vars[k]); });
    return s;
  }
  function load() { try { return JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { return null; } }
  function save() { try { sessionStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* private mode */ } }
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
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "m-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  /* ---------- shell ---------- */
  function build() {
    var css = h("link", {rel: "stylesheet", href: base + "/chat/widget.css"});
    document.head.appendChild(css);
    var root = h("div", {"class": "fcw" + (inline ? " fcw--inline" : ""), lang: lang});
    if (ds.colour && /^#[0-9a-f]{6}$/i.test(ds.colour)) root.style.setProperty("--fcw-brand", ds.colour);
    els.root = root;
    if (!inline) {
      els.launcher = h("button", {type: "button", "class": "fcw-launcher", "aria-expanded": "false",
        "aria-controls": "fcw-panel", onclick: function () { toggle(true); }});
      root.appendChild(els.launcher);
    }
    els.panel = h("section", {id: "fcw-panel", "class": "fcw-panel", "aria-labelledby": "fcw-title"});
    if (!inline) els.panel.hidden = true;
    root.appendChild(els.panel);
    var host = inline && ds.target ? document.querySelector(ds.target) : null;
    (host || document.body).appendChild(root);
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && !inline && !els.panel.hidden && els.panel.contains(document.activeElement)) toggle(false);
    });
    render();
    if (state.open || inline) toggle(true);
  }

  function toggle(open) {
    state.open = open; save();
    if (inline) return;
    els.panel.hidden = !open;
    els.launcher.setAttribute("aria-expanded", String(open));
    els.launcher.hidden = open;
    if (open) { var f = els.panel.querySelector("h2"); if (f) f.focus(); } else els.launcher.focus();
  }

  function quickExit() {
    try { sessionStorage.removeItem(KEY); } catch (e) { /* ignore */ }
    if (ws) { ws.onclose = null; ws.close(); }
    document.body.textContent = "";
    window.open(exitUrl, "_blank", "noopener");
    location.replace(exitUrl);
  }

  function header() {
    var kids = [h("h2", {id: "fcw-title", "class": "fcw-title", tabindex: "-1", text: (ds.force ? ds.force + ": " : "") + t("title")})];
    var tools = h("div", {"class": "fcw-tools"}, [
      pageLanguage ? null : h("button", {type: "button", "class": "fcw-link", lang: t("langCode"), onclick: function () {
        lang = t("langCode"); state.lang = lang; survey = null; save(); els.root.setAttribute("lang", lang); render(); }, text: t("lang")}),
      h("button", {type: "button", "class": "fcw-exit", title: t("exitHint"), onclick: quickExit, text: t("exit")}),
      inline ? null : h("button", {type: "button", "class": "fcw-link", onclick: function () { toggle(false); }, text: t("close")})
    ]);
    kids.push(tools);
    return h("div", {"class": "fcw-head"}, kids);
  }

  function render() {
    if (els.launcher) els.launcher.textContent = t("open");
    els.panel.textContent = "";
    els.panel.appendChild(header());
    els.panel.appendChild(h("p", {"class": "fcw-danger", text: t("danger")}));
    var body = h("div", {"class": "fcw-body"});
    els.panel.appendChild(body);
    els.body = body;
    if (state.id) return renderChat();
    if (!originAllowed()) return renderNotHere();
    if (!info) {
      body.appendChild(h("p", {text: t("connecting")}));
      fetch(base + "/api/v1/chats/availability").then(function (r) { return r.json(); })
        .then(function (d) { info = d; render(); })
        .catch(function () { setTimeout(render, 3000); });
      return;
    }
    if (!info.open) return renderClosed();
    renderForm({}, {});
  }

  /* The chat API answers only pages of our own origin and of allowed_origins (CORS): anywhere else
   * the availability request is refused, so say so at once instead of "Connecting…" for ever. */
  function originAllowed() {
    var here = location.origin.toLowerCase();
    return here === base.toLowerCase() || ALLOWED_ORIGINS.indexOf(here) >= 0;
  }

  var toldWebTeam = false;
  function renderNotHere() {
    if (!toldWebTeam && window.console) {
      toldWebTeam = true;
      console.error("FirstContact live chat: this page's origin " + location.origin + " may not use the chat at " +
        base + ". Add it to the ALLOWED_ORIGINS setting (environment variable FIRSTCONTACT_ALLOWED_ORIGINS, " +
        "a JSON list, e.g. [\"" + location.origin + "\"]) and restart the chat server.");
    }
    els.body.appendChild(h("p", {"class": "fcw-strong", text: t("notHere")}));
    els.body.appendChild(h("p", {text: t("notHereCall")}));
    els.body.appendChild(h("a", {"class": "fcw-button", href: formsUrl, text: t("forms")}));
  }

  function renderClosed() {
    var when = info.next_opening_text ? info.next_opening_text[lang] || info.next_opening_text.en : "";
    els.body.appendChild(h("p", {"class": "fcw-strong", text: t("closed")}));
    if (when) els.body.appendChild(h("p", {text: t("closedNext", {when: when})}));
    els.body.appendChild(h("a", {"class": "fcw-button", href: formsUrl, text: t("forms")}));
  }

  /* ---------- pre-chat form ---------- */
  function field(name, label, input, hint, errors) {
    var id = "fcw-" + name, err = errors[name];
    input.id = id; input.name = name;
    var described = [];
    var kids = [h("label", {"for": id, "class": "fcw-label", text: label})];
    if (hint) { kids.push(h("p", {id: id + "-hint", "class": "fcw-hint", text: hint})); described.push(id + "-hint"); }
    if (err) {
      kids.push(h("p", {id: id + "-error", "class": "fcw-error", text: err}));
      described.push(id + "-error"); input.setAttribute("aria-invalid", "true");
    }
    if (described.length) input.setAttribute("aria-describedby", described.join(" "));
    kids.push(input);
    return h("div", {"class": "fcw-field" + (err ? " fcw-field--error" : "")}, kids);
  }

  function errorSummary(form, errors) {
    var names = Object.keys(errors);
    if (!names.length) return;
    var list = h("ul", {"class": "fcw-error-list"});
    names.forEach(function (k) {
      list.appendChild(h("li", {}, [h("a", {href: "#fcw-" + k, onclick: function (e) {
        e.preventDefault(); var el = document.getElementById("fcw-" + k); if (el) el.focus(); }, text: errors[k]})]));
    });
    form.appendChild(h("div", {"class": "fcw-error-summary", role: "alert", tabindex: "-1"}, [h("h3", {text: t("problem")}), list]));
  }

  /* "Is it safe to text you?" Preselected from the topic (no for sensitive topics, such as domestic
   * abuse) until the visitor chooses; sent as safe_to_contact, and nothing is texted without a yes. */
  function safeDefault(topicValue) { return (info.sensitive_topics || []).indexOf(topicValue) < 0 ? "yes" : "no"; }
  function safeField(values, errors) {
    var err = errors.safe_to_contact, described = ["fcw-safe_to_contact-hint"];
    var set = h("fieldset", {"class": "fcw-fieldset fcw-field" + (err ? " fcw-field--error" : "")}, [
      h("legend", {text: t("safe")}),
      h("p", {id: "fcw-safe_to_contact-hint", "class": "fcw-hint", text: t("safeHint")})]);
    if (err) { set.appendChild(h("p", {id: "fcw-safe_to_contact-error", "class": "fcw-error", text: err})); described.push("fcw-safe_to_contact-error"); }
    set.setAttribute("aria-describedby", described.join(" "));
    var radios = {};
    [["yes", t("safeYes")], ["no", t("safeNo")]].forEach(function (o, i) {
      var rid = i ? "fcw-safe_to_contact-" + o[0] : "fcw-safe_to_contact";
      radios[o[0]] = h("input", {type: "radio", id: rid, name: "safe_to_contact", value: o[0],
        onchange: function () { values.safeChosen = true; }});
      set.appendChild(h("div", {"class": "fcw-radio"}, [radios[o[0]], h("label", {"for": rid, text: o[1]})]));
    });
    function pick(v) { radios[v].checked = true; }
    pick(values.safe_to_contact || safeDefault(values.topic || ""));
    return {el: set, pick: pick, value: function () { return radios.yes.checked ? "yes" : "no"; }};
  }

  function renderForm(values, errors) {
    var topic = h("select", {}, [h("option", {value: "", text: t("choose")})]);
    Object.keys(info.topics).forEach(function (k) {
      topic.appendChild(h("option", {value: k, text: T[lang].topics[k] || info.topics[k]}));
    });
    var area = h("select", {}, [h("option", {value: "", text: t("anyArea")})]);
    info.areas.forEach(function (a) { area.appendChild(h("option", {value: String(a.id), text: a.name})); });
    var inputs = {
      name: h("input", {type: "text", autocomplete: "name", spellcheck: "false"}),
      mobile: h("input", {type: "tel", autocomplete: "tel"}),
      email: h("input", {type: "email", autocomplete: "email", spellcheck: "false"}),
      topic: topic,
      postcode: h("input", {type: "text", autocomplete: "postal-code", "class": "fcw-short"}),
      area_id: area
    };
    Object.keys(inputs).forEach(function (k) { if (values[k]) inputs[k].value = values[k]; });
    var safe = safeField(values, errors);
    topic.addEventListener("change", function () { if (!values.safeChosen) safe.pick(safeDefault(topic.value)); });
    var form = h("form", {"class": "fcw-form", novalidate: "novalidate", onsubmit: function (e) {
      e.preventDefault(); submit(form, inputs, safe, values.safeChosen);
    }});
    errorSummary(form, errors);
    form.appendChild(h("p", {text: t("intro")}));
    form.appendChild(field("name", t("name"), inputs.name, "", errors));
    form.appendChild(field("topic", t("topic"), inputs.topic, "", errors));
    form.appendChild(field("mobile", t("mobile"), inputs.mobile, t("mobileHint"), errors));
    form.appendChild(safe.el);
    form.appendChild(field("email", t("email"), inputs.email, "", errors));
    form.appendChild(field("postcode", t("postcode"), inputs.postcode, t("postcodeHint"), errors));
    if (info.areas.length) form.appendChild(field("area_id", t("area"), inputs.area_id, "", errors));
    form.appendChild(h("button", {type: "submit", "class": "fcw-button", text: t("start")}));
    els.body.appendChild(form);
    var s = form.querySelector(".fcw-error-summary"); if (s) s.focus();
  }

  function submit(form, inputs, safe, safeChosen) {
    var values = {safe_to_contact: safe.value(), safeChosen: safeChosen};
    Object.keys(inputs).forEach(function (k) { values[k] = inputs[k].value.trim(); });
    var payload = {name: values.name, topic: values.topic, mobile: values.mobile || null, email: values.email || null,
      postcode: values.postcode || null, area_id: values.area_id ? Number(values.area_id) : null, language: lang,
      safe_to_contact: values.safe_to_contact === "yes"};
    form.querySelector("button[type=submit]").disabled = true;
    fetch(base + "/api/v1/chats", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(payload)})
      .then(function (r) { return r.json().then(function (d) { return {ok: r.ok, d: d}; }); })
      .then(function (res) {
        if (!res.ok) {
          var e = (res.d && res.d.error) || {}, errs = {};
          if (e.code === "closed") { info.open = false; return render(); }
          Object.keys(e.fields || {}).forEach(function (k) { errs[k] = T[lang].err[k] || e.fields[k]; });
          if (!Object.keys(errs).length) errs.name = T[lang].err[e.code === "rate_limited" ? "rate_limited" : "other"];
          els.body.textContent = ""; return renderForm(values, errs);
        }
        state = {id: res.d.conversation_id, token: res.d.token, reference: res.d.reference, lastSeq: 0,
          messages: [], open: true, lang: lang, queue: [res.d.queue_position, res.d.estimated_wait_seconds]};
        save(); render();
      })
      .catch(function () { els.body.textContent = ""; renderForm(values, {name: T[lang].err.other}); });
  }

  /* ---------- chat ---------- */
  function renderChat() {
    els.status = h("p", {"class": "fcw-status", role: "status", "aria-live": "polite"});
    els.log = h("div", {"class": "fcw-log", role: "log", "aria-live": "polite", "aria-label": t("title"), tabindex: "0"});
    els.typing = h("p", {"class": "fcw-typing", "aria-live": "polite"});
    els.body.appendChild(els.status);
    els.body.appendChild(els.log);
    els.body.appendChild(els.typing);
    (state.messages || []).forEach(drawMessage);
    if (state.ended) return renderEnded();
    var box = h("textarea", {id: "fcw-message", rows: "3", maxlength: "2000", onkeydown: function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); sendMessage(); }
      else if (Date.now() - typingAt > 2000) { typingAt = Date.now(); send({type: "typing"}); }
    }});
    els.box = box;
    els.body.appendChild(h("form", {"class": "fcw-composer", onsubmit: function (e) { e.preventDefault(); sendMessage(); }}, [
      h("label", {"for": "fcw-message", "class": "fcw-label", text: t("message")}), box,
      h("div", {"class": "fcw-actions"}, [
        h("button", {type: "submit", "class": "fcw-button", text: t("send")}),
        h("button", {type: "button", "class": "fcw-button fcw-button--secondary", onclick: endChat, text: t("end")}),
        h("button", {type: "button", "class": "fcw-link", onclick: download, text: t("transcript")})
      ])
    ]));
    showStatus();
    if (!ws) connect();
  }

  function renderEnded() {
    els.body.appendChild(h("p", {id: "fcw-ended", "class": "fcw-strong", tabindex: "-1", text: t("ended")}));
    els.body.appendChild(h("div", {"class": "fcw-actions"}, [
      state.expired ? null : h("button", {type: "button", "class": "fcw-button", onclick: download, text: t("transcript")}),
      h("button", {type: "button", "class": "fcw-button fcw-button--secondary", onclick: function () {
        state = {open: true, lang: lang}; survey = null; svVals = {}; save(); render(); }, text: t("again")})
    ]));
    // The survey (chat_server widget survey API). The status line exists before "Thank you" goes in.
    els.svLive = h("p", {"class": "fcw-status", role: "status", tabindex: "-1",
      text: state.expired ? t("expired") : state.survey === "done" ? t("svThanks") : ""});
    var box = h("div", {"class": "fcw-survey"});
    els.body.appendChild(els.svLive);
    els.body.appendChild(box);
    if (state.survey) return;
    if (survey) return drawSurvey(box, {});
    surveyApi("GET").then(function (res) {
      if (res.s === 404 || res.s === 403 || res.s === 410) { state.survey = "none"; save(); }
      else if (res.s === 200) { survey = res.d; if (box.isConnected) drawSurvey(box, {}); }
    }).catch(function () { /* no survey offered; the text invitation still follows */ });
  }

  /* ---------- satisfaction survey after an answered chat ---------- */
  function chatApi(path, init) { // the token travels in a header, never in the URL
    init.headers = Object.assign({Authorization: "Bearer " + state.token}, init.headers || {});
    return fetch(base + "/api/v1/chats/" + encodeURIComponent(state.id) + path, init);
  }

  function surveyApi(method, body) {
    var path = method === "GET" ? "/survey?lang=" + lang : "/survey"; // questions in the widget's language
    return chatApi(path, {method: method, headers: {"Content-Type": "application/json"},
      body: body ? JSON.stringify(body) : undefined})
      .then(function (r) { return r.json().then(function (d) { return {s: r.status, d: d}; }); });
  }

  function remember(e) { svVals[e.target.name] = e.target.value; }

  function drawSurvey(box, errors) {
    box.textContent = "";
    var form = h("form", {"class": "fcw-form", novalidate: "novalidate", "aria-labelledby": "fcw-sv-title",
      onsubmit: function (e) { e.preventDefault(); sendSurvey(box); }});
    errorSummary(form, errors);
    form.appendChild(h("h3", {id: "fcw-sv-title", "class": "fcw-sv-title", text: t("svTitle")}));
    form.appendChild(h("p", {text: t("svIntro")}));
    survey.questions.forEach(function (q) {
      var text = q.text, id = "fcw-" + q.field, err = errors[q.field];
      if (q.kind !== "score") {
        var box2 = h("textarea", {rows: "4", maxlength: "2000", oninput: remember});
        box2.value = svVals[q.field] || "";
        return form.appendChild(field(q.field, text, box2, t("svOptional"), errors));
      }
      var set = h("fieldset", {"class": "fcw-fieldset fcw-field" + (err ? " fcw-field--error" : "")}, [h("legend", {text: text})]);
      if (err) { set.appendChild(h("p", {id: id + "-error", "class": "fcw-error", text: err})); set.setAttribute("aria-describedby", id + "-error"); }
      for (var n = 1; n <= 5; n++) {
        var rid = n === 1 ? id : id + "-" + n;
        var label = t("svScale")[n - 1];
        var radio = h("input", {type: "radio", id: rid, name: q.field, value: String(n), onchange: remember});
        radio.checked = svVals[q.field] === String(n);
        set.appendChild(h("div", {"class": "fcw-radio"}, [radio, h("label", {"for": rid, text: n + " – " + label})]));
      }
      form.appendChild(set);
    });
    form.appendChild(h("button", {type: "submit", "class": "fcw-button", text: t("svSend")}));
    box.appendChild(form);
    var s = form.querySelector(".fcw-error-summary"); if (s) s.focus();
  }

  function sendSurvey(box) {
    var errs = {}, body = {};
    survey.questions.forEach(function (q) {
      var v = svVals[q.field] || "";
      if (q.kind === "score") { if (v) body[q.field] = Number(v); else errs[q.field] = t("svErr")[q.field] || T.en.svErr.score_overall; }
      else body[q.field] = v.trim();
    });
    if (Object.keys(errs).length) return drawSurvey(box, errs);
    box.querySelector("button[type=submit]").disabled = true;
    surveyApi("POST", body).then(function (res) {
      if (res.s === 201 || res.s === 409) {
        state.survey = "done"; save(); box.textContent = "";
        els.svLive.textContent = t("svThanks"); els.svLive.focus(); return;
      }
      if (res.s === 404 || res.s === 403 || res.s === 410) { state.survey = "none"; save(); box.textContent = ""; return; }
      var fields = (res.d && res.d.error && res.d.error.fields) || {}, e = {};
      Object.keys(fields).forEach(function (k) { e[k] = k === "comment" ? t("svLong") : t("svErr")[k] || fields[k]; });
      if (!Object.keys(e).length) e[survey.questions[0].field] = T[lang].err.other;
      drawSurvey(box, e);
    }).catch(function () { var e = {}; e[survey.questions[0].field] = T[lang].err.other; drawSurvey(box, e); });
  }

  function showStatus(text) {
    if (!els.status) return;
    if (text) { els.status.textContent = text; return; }
    if (state.operator) els.status.textContent = t("assigned", {name: state.operator});
    else if (state.queue) {
      var q = state.queue;
      if (q[1] === null || q[1] === undefined) {
        // Nobody is staffing the queue: no made-up wait; stay, or report online.
        els.status.textContent = t("queue", {n: q[0]}) + " " + t("noStaff") + " ";
        els.status.appendChild(h("a", {"class": "govuk-link", href: formsUrl, text: t("forms")}));
        return;
      }
      els.status.textContent = t("queue", {n: q[0]}) + " " + (q[1] > 0 ? t("wait", {m: Math.max(1, Math.round(q[1] / 60))}) : t("waitNone"));
    }
  }

  function drawMessage(m) {
    if (!els.log) return;
    var who = m.sender === "visitor" ? t("you") : m.sender === "system" ? t("system") : (m.name || t("operator"));
    var li = h("div", {"class": "fcw-msg fcw-msg--" + m.sender, "data-client-id": m.client_id}, [
      h("span", {"class": "fcw-who", text: who + " "}),
      h("span", {"class": "fcw-text", text: m.body}),
      m.sender === "visitor" ? h("span", {"class": "fcw-state", text: t(m.state || "sending")}) : null
    ]);
    var old = els.log.querySelector('[data-client-id="' + CSS.escape(m.client_id) + '"]');
    if (old) els.log.replaceChild(li, old); else els.log.appendChild(li);
    li.scrollIntoView({block: "nearest"});
  }

  function upsert(m) {
    var list = state.messages, i;
    for (i = 0; i < list.length; i++) if (list[i].client_id === m.client_id) break;
    if (i < list.length) { if (list[i].state === "delivered") m.state = "delivered"; list[i] = Object.assign(list[i], m); m = list[i]; }
    else list.push(m);
    save(); drawMessage(m);
  }

  function sendMessage() {
    var body = els.box.value.trim();
    if (!body) return;
    if (body.length > 2000) { showStatus(t("tooLong")); return; }
    var id = uuid();
    pending[id] = body;
    state.pending = pending;
    upsert({client_id: id, sender: "visitor", body: body, state: "sending"});
    els.box.value = "";
    send({type: "message", client_id: id, body: body});
  }

  function endChat() {
    if (window.confirm(t("endConfirm"))) send({type: "end"});
  }

  function expire() { // the token no longer opens this chat (410 / close 4410, or 403 / 4401)
    var inside = els.panel.contains(document.activeElement);
    state.ended = true; state.expired = true; state.survey = state.survey || "none"; save(); render();
    if (inside) els.svLive.focus(); // the control in use has gone
  }

  function download() { // the stored transcript (everything said, in order), while the token is valid
    var where = state.ended ? els.svLive : els.status;
    chatApi("/transcript", {method: "GET"}).then(function (r) {
      if (r.status === 410 || r.status === 403) { expire(); return null; }
      if (!r.ok) throw new Error(String(r.status));
      return r.blob();
    }).then(function (blob) {
      if (!blob) return;
      var url = URL.createObjectURL(blob);
      var a = h("a", {href: url, download: "chat-" + (state.reference || "transcript") + ".txt"});
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    }).catch(function () { if (where) where.textContent = T[lang].err.other; });
  }

  /* ---------- connection: reconnect forever, resume, resend unacked ---------- */
  function send(frame) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame));
  }

  function connect() {
    clearTimeout(timer);
    ws = new WebSocket(wsBase + "/ws/chat/" + encodeURIComponent(state.id));
    ws.onopen = function () {
      attempt = 0;
      // First frame: the token (it stays out of the URL) and the last seq held, so the server
      // authorises and resumes in one read of the store.
      send({type: "auth", token: state.token, after_seq: state.lastSeq || 0});
      pending = state.pending || {};
      Object.keys(pending).forEach(function (id) { send({type: "message", client_id: id, body: pending[id]}); });
      showStatus();
      alive();
    };
    ws.onmessage = function (e) { alive(); onFrame(JSON.parse(e.data)); };
    ws.onclose = function (e) {
      clearTimeout(watchdog);
      if (e.code === 4401 || e.code === 4410) { ws = null; expire(); return; } // stop trying
      if (state.ended || !state.id) { ws = null; return; }
      showStatus(t("reconnecting"));
      // 1012 (service restart): this worker is stopping and another one is up: come back at once
      // (a short jitter spreads a restarted worker's sockets), resuming after lastSeq. Otherwise
      // back off, capped at 3 s so that after a server restart every widget is back within ~3 s of
      // it answering (bench/chat_load.py --storm models this policy; a refused connection costs the
      // server nothing).
      var delay = e.code === 1012 ? Math.random() * 250 :
        Math.min(3000, 500 * Math.pow(2, attempt++)) * (0.5 + Math.random() / 2);
      timer = setTimeout(connect, delay);
    };
  }

  function alive() {
    clearTimeout(watchdog);
    watchdog = setTimeout(function () { if (ws) ws.close(); }, HEARTBEAT_MS);
  }

  function onFrame(f) {
    if (f.type === "message") {
      if (f.seq <= (state.lastSeq || 0)) return;
      state.lastSeq = f.seq;
      if (pending[f.client_id]) { delete pending[f.client_id]; state.pending = pending; }
      upsert({client_id: f.client_id, sender: f.sender, body: f.body, sent_at: f.sent_at, seq: f.seq,
        name: f.operator && f.operator.display_name, state: f.sender === "visitor" ? "sent" : undefined});
      if (f.sender === "operator") els.typing.textContent = "";
    } else if (f.type === "ack") {
      if (pending[f.client_id]) { delete pending[f.client_id]; state.pending = pending; }
      state.messages.forEach(function (m) {
        if (m.client_id === f.client_id && m.state === "sending") { m.state = "sent"; m.seq = f.seq; drawMessage(m); }
      });
      save();
    } else if (f.type === "delivered") {
      state.messages.forEach(function (m) {
        if (m.sender === "visitor" && m.seq && m.seq <= f.seq && m.state !== "delivered") { m.state = "delivered"; drawMessage(m); }
      });
      save();
    } else if (f.type === "queue") {
      state.queue = [f.position, f.estimated_wait_seconds]; state.operator = null; save(); showStatus();
    } else if (f.type === "assigned") {
      state.operator = f.operator.display_name; opName = state.operator; save(); showStatus();
    } else if (f.type === "typing") {
      els.typing.textContent = t("typing", {name: state.operator || opName || t("operator")});
      clearTimeout(els.typingTimer);
      els.typingTimer = setTimeout(function () { els.typing.textContent = ""; }, 4000);
    } else if (f.type === "ended") {
      var inside = els.panel.contains(document.activeElement);
      state.ended = true; save(); if (ws) ws.close(); ws = null; render();
      if (inside) document.getElementById("fcw-ended").focus(); // the control in use has gone
    } else if (f.type === "ping") {
      send({type: "pong"});
    } else if (f.type === "error" && (f.code === "rate_limited" || f.code === "busy") && f.client_id && pending[f.client_id]) {
      // Not stored: keep it and resend the same client_id after the server's delay (jittered).
      var delay = (typeof f.retry_after === "number" ? f.retry_after : 1.5) * 1000 * (1 + Math.random() * 0.5);
      setTimeout(function () { if (pending[f.client_id]) send({type: "message", client_id: f.client_id, body: pending[f.client_id]}); }, delay);
    } else if (f.type === "error" && f.client_id && pending[f.client_id]) {
      // The server's message is English: show the widget's own words in the visitor's language.
      delete pending[f.client_id]; showStatus(f.code === "validation_failed" ? t("tooLong") : T[lang].err.other);
    }
  }

  window.FirstContactChat = {open: function () { toggle(true); }};
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", build); else build();
})();
