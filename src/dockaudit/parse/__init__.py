"""One parser per file kind; each ``parse(source)`` returns a typed document and never raises."""
