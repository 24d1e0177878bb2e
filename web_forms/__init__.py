"""Public pages: online report forms, confirmation, survey pages and the chat landing page."""
