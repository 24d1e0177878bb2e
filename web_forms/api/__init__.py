"""The JSON API for integrators: form definitions and submissions."""
