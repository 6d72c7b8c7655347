"""The ``model.py`` files of the bundled Python models, copied into their version folders by
:mod:`modelserve.examples.python_models` (they are served from there, never imported from here)."""
