"""Rule implementations, grouped by what they look at. Each rule is one decorated function."""
