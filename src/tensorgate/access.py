"""Who may call what: bearer tokens for the API and for model control.

One pure policy serves both doors (HTTP middleware, gRPC interceptor), so a route is
guarded the same way whichever protocol reaches it:

* health probes are always open (orchestrators must reach them);
* model control (repository load / unload) is refused unless the server enables it,
  and then needs the control token (the API token when no control token is set);
* everything else needs the API token when one is set.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from tensorgate.errors import ConfigError, ControlDisabledError, UnauthenticatedError

__all__ = ["AccessPolicy"]


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Tokens and switches that guard the API.

    Attributes:
        auth_token: needed on every call but health probes (None: open).
        model_control: whether load / unload calls are served at all.
        control_token: needed on load / unload (None: the auth token).
    """

    auth_token: str | None = None
    model_control: bool = False
    control_token: str | None = None

    def __post_init__(self) -> None:
        if self.model_control and not (self.control_token or self.auth_token):
            raise ConfigError(
                "model control is on but no token guards it; set --control-token "
                "(or TENSORGATE_CONTROL_TOKEN), or --auth-token"
            )

    def check(self, authorization: str | None, *, control: bool) -> None:
        """Raise unless ``authorization`` (the header's value) may make this call.

        Raises:
            ControlDisabledError: a control call while model control is off.
            UnauthenticatedError: the token is missing or wrong.
        """
        if control:
            if not self.model_control:
                raise ControlDisabledError(
                    "model control is off on this server; start it with --model-control "
                    "and a --control-token to load and unload models"
                )
            token = self.control_token or self.auth_token
        else:
            token = self.auth_token
        if token is None:
            return
        given = (authorization or "").encode()
        if not hmac.compare_digest(given, f"Bearer {token}".encode()):
            which = "control" if control and self.control_token else "API"
            raise UnauthenticatedError(
                f"missing or wrong bearer token; send 'Authorization: Bearer <{which} token>'"
            )
