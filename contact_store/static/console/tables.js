// Console tables reflow on narrow screens (app.scss, .fc-stack-table): each cell is labelled with
// its column's header (data-label) so a row can be shown as "label value" lines instead of the
// page scrolling sideways at 320 px. Tables without a header row are left alone. Rows added later
// (the live wallboard) are labelled as they arrive. Labels are set as attributes, never as HTML.
function label(table) {
  const heads = Array.from(table.querySelectorAll('thead th'), (th) => th.textContent.trim().replace(/\s+/g, ' '));
  if (!heads.length) return;
  table.classList.add('fc-stack-table');
  for (const row of table.querySelectorAll('tbody tr')) {
    Array.from(row.children).forEach((cell, i) => {
      if (cell.tagName === 'TD' && heads[i] && !cell.hasAttribute('data-label')) cell.setAttribute('data-label', heads[i]);
    });
  }
}

for (const table of document.querySelectorAll('main table.govuk-table')) {
  label(table);
  new MutationObserver(() => label(table)).observe(table, { childList: true, subtree: true });
}
