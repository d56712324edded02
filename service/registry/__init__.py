"""The registry of detectors found in the weights folders (their cards: `service.inference.card`)."""
