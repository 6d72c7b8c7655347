"""Keeping models healthy (issue #18): the request log (:mod:`modelserve.monitoring.request_log`)."""
