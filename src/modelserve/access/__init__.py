"""Who may do what: API keys with scopes, client-certificate identities, and the audit log.

:mod:`.scopes` says what an :class:`~.scopes.Identity` may do and carries the caller's identity through a
request (:data:`~.scopes.PRINCIPAL`); :mod:`.keys` reads and writes the keys file (salted hashes, never a
key); :mod:`.authenticator` turns a request's credentials into an identity, refusing with 401 / 429;
:mod:`.audit` writes admin actions and refusals as JSON lines. The doors (``modelserve.server``) decide
which :class:`~.scopes.Kind` a request is; the serving core checks the model a ``predict`` key names.
"""
