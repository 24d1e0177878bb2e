// Live wallboard: re-renders the figures and tables from Server-Sent Events snapshots.
// Everything is set with textContent / DOM nodes: names and references are never parsed as HTML.
const root = document.querySelector('.fc-wallboard');
const statusEl = document.getElementById('live-status');
const csrf = document.getElementById('wallboard-csrf').value;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function cell(...children) { return el('td', { class: 'govuk-table__cell' }, ...children); }

function rowForm(action, selectId, label, optionsTemplate, selected, extraHidden, buttonText) {
  const form = el('form', { method: 'post', action, class: 'fc-row-form' });
  form.append(el('input', { type: 'hidden', name: 'csrf_token', value: csrf }));
  if (extraHidden) form.append(el('input', { type: 'hidden', name: extraHidden[0], value: extraHidden[1] }));
  form.append(el('label', { class: 'govuk-visually-hidden', for: selectId, text: label }));
  const select = el('select', { class: 'govuk-select', id: selectId, name: selectId.startsWith('st-') ? 'status' : 'operator_id' });
  select.append(document.getElementById(optionsTemplate).content.cloneNode(true));
  select.value = selected == null ? '' : String(selected);
  form.append(select, el('button', { class: 'govuk-button govuk-button--secondary fc-small-button', text: buttonText }));
  return form;
}

function focusedId() { return document.activeElement && document.activeElement.id; }

function render(data) {
  for (const node of root.querySelectorAll('[data-field]')) {
    const path = node.dataset.field.split('.');
    let value = data;
    for (const p of path) value = value == null ? undefined : value[p];
    if (value !== undefined && node.textContent !== String(value)) node.textContent = value;
  }
  const keep = focusedId();
  // Do not rebuild a table while someone is choosing in one of its forms.
  if (!(keep && keep.startsWith('st-'))) {
    const ops = document.getElementById('operators');
    ops.replaceChildren(...(data.operators.length ? data.operators.map((o) => el('tr', { class: 'govuk-table__row' },
      cell(document.createTextNode(o.name)),
      cell(el('strong', { class: `govuk-tag fc-status--${o.status}`, text: o.status }), document.createTextNode(' ' + o.since)),
      cell(document.createTextNode(o.load)),
      cell(rowForm(`/console/wallboard/operators/${o.id}/status`, `st-${o.id}`, `Status for ${o.name}`, 'operator-options', o.status, null, 'Set')),
    )) : [el('tr', { class: 'govuk-table__row' }, el('td', { class: 'govuk-table__cell', colspan: '4', text: 'No one is signed in.' }))]));
  }
  if (!(keep && keep.startsWith('as-'))) {
    const reps = document.getElementById('reports');
    reps.replaceChildren(...(data.reports.length ? data.reports.map((r) => el('tr', { class: 'govuk-table__row' },
      cell(el('a', { class: 'govuk-link', href: `/console/reports/${r.id}`, text: r.reference }),
        r.sensitive ? el('strong', { class: 'govuk-tag govuk-tag--purple', text: 'Sensitive' }) : null),
      cell(r.over ? el('strong', { class: 'govuk-tag govuk-tag--red', text: r.age }) : document.createTextNode(r.age)),
      cell(rowForm(`/console/reports/${r.id}/assign`, `as-${r.id}`, `Assign ${r.reference} to`, 'assignee-options', r.assignee_id, ['back', 'wallboard'], 'Assign')),
    )) : [el('tr', { class: 'govuk-table__row' }, el('td', { class: 'govuk-table__cell', colspan: '3', text: 'No open reports.' }))]));
  }
  if (!(keep && keep.startsWith('ch-'))) {
    const chats = document.getElementById('chats');
    chats.replaceChildren(...(data.chats.length ? data.chats.map((c) => el('tr', { class: 'govuk-table__row' },
      cell(document.createTextNode(c.label), c.danger ? document.createTextNode(' ') : null, c.danger ? el('strong', { class: 'govuk-tag govuk-tag--red', text: 'Danger' }) : null),
      cell(document.createTextNode(`${c.status} ${c.since}`)),
      cell(document.createTextNode(c.assignee)),
      cell(rowForm(`/console/wallboard/chats/${c.id}/assign`, `ch-${c.id}`, `Give ${c.label} to`, 'chat-options', c.assignee_id, null, 'Give')),
    )) : [el('tr', { class: 'govuk-table__row' }, el('td', { class: 'govuk-table__cell', colspan: '4', text: 'No chats waiting or in progress.' }))]));
  }
  root.dataset.version = String(Number(root.dataset.version || 0) + 1);
}

function connect() {
  const source = new EventSource(root.dataset.stream);
  source.addEventListener('open', () => { statusEl.textContent = 'live'; });
  source.addEventListener('wallboard', (e) => render(JSON.parse(e.data)));
  source.addEventListener('signed-out', () => { source.close(); window.location.reload(); });
  source.addEventListener('error', () => { statusEl.textContent = 'reconnecting…'; });
}

connect();
