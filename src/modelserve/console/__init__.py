"""The web page (``modelserve serve --ui``): try every served model from a form generated from its
signature, watch models, versions, traffic and live metrics, and manage them. Built on Gradio (the ``ui``
extra), imported only when the page is on: see :mod:`modelserve.console.page` and ``docs/console.md``."""
