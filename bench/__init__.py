"""Benchmarks: Returnbridge's figures against the floors that matter (issue 10).

Every figure comes with its floor measured in the same run on the same machine
(webhook acceptance against `/healthz`, end-to-end events against raw kombu
publish-and-consume), because the machines here are shared and only ratios
within one run mean anything. Load goes to 127.0.0.1 only, bounded in count and time.
Run `python -m bench --help`.
"""
