"""The public form journey: start, one page at a time, check your answers, confirmation."""
