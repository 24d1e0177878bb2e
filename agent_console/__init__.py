"""Staff pages: sign-in, operator workspace, report triage, wallboard, dashboards, exports, admin."""
