// Start every GOV.UK Frontend component on the page (progressive enhancement only).
import { initAll } from '/static/govuk/govuk-frontend.min.js';
initAll();
