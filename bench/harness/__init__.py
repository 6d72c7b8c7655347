"""The ``make bench`` harness: models, payloads, servers, load generators, in-process ceilings, report.

Run through ``bench/run.py``; nothing here is imported by the package or the tests.
"""
