"""Cross-file links: how one document reaches another (compose services ↔ Dockerfile stages,
nginx ``include`` through container mounts, requirements ``-r`` chains)."""
