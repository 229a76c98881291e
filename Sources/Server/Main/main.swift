// Server entry point (written by the lead).
