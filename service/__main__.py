"""`python -m service` starts the HTTP API (same as `stadtblick serve`)."""

from service.cli.main import main

raise SystemExit(main(["serve"]))
