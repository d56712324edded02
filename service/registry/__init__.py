"""Model cards and the registry of detectors found in the weights folders."""
