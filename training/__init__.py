"""Training toolkit: municipal photos in, an evaluated, exported and published detector version out.

Depends on the `[train]` extra (ultralytics, torch); the service in `service/` never imports it.
"""
