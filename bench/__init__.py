"""Re-runnable benchmark harness for the stadtblick service (`python -m bench --help`).

Every comparison in one report is measured in the same run, side by side, because the
machines this runs on (shared CI boxes, vehicle computers) are noisy: medians and ratios
taken minutes apart on another load would not mean anything.
"""
