#!/usr/bin/env python3
"""The image's HEALTHCHECK: exit 0 when the server's REST port answers ``GET /healthz`` with 200, else 1.

It probes ``http://127.0.0.1:$MODELSERVE_REST_API_PORT$MODELSERVE_HEALTHCHECK_PATH`` (8501 and
``/healthz`` unless set): the port the entrypoint gives ``--rest_api_port``. ``/healthz`` answers as soon as
the process serves (after the first model loads at start-up); set ``MODELSERVE_HEALTHCHECK_PATH=/readyz``
to be healthy only while every configured model has an AVAILABLE version. Probes need no API key
(``--api_keys_file`` leaves them open). A server with ``--ssl_config_file`` needs its own check. Standard
library only, so it runs with any Python in the image; it never raises, it exits.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("MODELSERVE_REST_API_PORT", "8501")
    path = os.environ.get("MODELSERVE_HEALTHCHECK_PATH", "/healthz")
    url = f"http://127.0.0.1:{port}{path}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through $http_proxy
    try:
        with opener.open(url, timeout=float(os.environ.get("MODELSERVE_HEALTHCHECK_TIMEOUT", "2"))) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
