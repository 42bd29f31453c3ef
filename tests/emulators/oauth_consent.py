"""The authorization-code half of a vendor's OAuth server, shared by the four OAuth emulators.

GET on the authorization endpoint checks client_id and redirect_uri as the vendors do (an unregistered
redirect_uri gets an error page, never a redirect) and shows a consent page with Allow and Deny buttons; the
POST of that form redirects back with `code` and `state`, or with the vendor's denial. `take_code` is what the
token endpoint does with grant_type=authorization_code: single-use codes bound to the client, the redirect_uri
and the PKCE challenge (S256). Each vendor's emulator builds its own token answer and error bodies.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
from urllib.parse import urlencode

from werkzeug.wrappers import Response

CODE_TTL = 600


class ConsentServer:
    """Mixin for an Emulator. Subclasses set `vendor` and `denial` (the redirect params on Deny, or None)."""

    vendor = "Vendor"
    denial: dict | None = {"error": "access_denied"}

    def reset_consent(self, client_id: str) -> None:
        self.consent_client_id = client_id
        self.redirect_uris: set[str] = set()  # registered with the app; tests add the service's callback
        self.grant_scopes: list[str] | None = None  # None: the user grants what was asked
        self.codes: dict[str, dict] = {}
        self.token_lock = threading.Lock()

    # --- the authorization endpoint -------------------------------------------------------------

    def on_authorize(self, request):
        if request.method == "POST":
            return self._decide(request)
        params = request.args.to_dict()
        refusal = self._check_request(params)
        if refusal is not None:
            return refusal
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in params.items()
        )
        scopes = html.escape(params.get("scope", ""))
        page = f"""<!doctype html><html><head><title>{self.vendor} - Allow access?</title></head><body>
<h1>{self.vendor}</h1><p id="consent">An application asks for access: <span id="scopes">{scopes}</span></p>
<form method="post">{hidden}
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button></form></body></html>"""
        return Response(page, content_type="text/html; charset=utf-8")

    def _check_request(self, params: dict):
        if params.get("client_id") != self.consent_client_id:
            return self.error_page("invalid_client_id", "client identifier invalid")
        if params.get("redirect_uri") not in self.redirect_uris:
            return self.error_page("redirect_uri_mismatch", "redirect_uri must match configuration")
        if params.get("response_type") != "code":
            return self.error_page("unsupported_response_type", "response type not supported")
        return None

    def error_page(self, error: str, description: str) -> Response:
        body = f"<!doctype html><html><body><h1>Error</h1><p id='error'>{error}: {html.escape(description)}</p>"
        return Response(body + "</body></html>", status=400, content_type="text/html; charset=utf-8")

    def _decide(self, request):
        params = request.form.to_dict()
        decision = params.pop("decision", "")
        refusal = self._check_request(params)
        if refusal is not None:
            return refusal
        back = {"state": params.get("state", "")}
        if decision != "allow":
            if self.denial is None:
                return Response("<p id='declined'>You declined to connect the app.</p>", content_type="text/html")
            return self._redirect(params["redirect_uri"], {**self.denial, **back})
        code = secrets.token_urlsafe(24)
        requested = params.get("scope", "").replace(",", " ").split()
        self.codes[code] = {
            "client_id": params["client_id"],
            "redirect_uri": params["redirect_uri"],
            "scopes": list(self.grant_scopes if self.grant_scopes is not None else requested),
            "code_challenge": params.get("code_challenge"),
            "code_challenge_method": params.get("code_challenge_method"),
            "expires": time.time() + CODE_TTL,
        }
        return self._redirect(params["redirect_uri"], {"code": code, **back})

    @staticmethod
    def _redirect(uri: str, params: dict) -> Response:
        joiner = "&" if "?" in uri else "?"
        return Response(status=302, headers={"Location": f"{uri}{joiner}{urlencode(params)}"})

    # --- the token endpoint, grant_type=authorization_code -------------------------------------

    def take_code(self, form) -> tuple[dict | None, str]:
        """(the code's grant, "") or (None, why): unknown/used/expired code, another client, redirect or verifier."""
        with self.token_lock:
            grant = self.codes.pop(form.get("code", ""), None)  # single use, even when the rest is wrong
        if grant is None or grant["expires"] < time.time():
            return None, "invalid_grant"
        if grant["client_id"] != form.get("client_id"):
            return None, "invalid_client"
        if grant["redirect_uri"] != form.get("redirect_uri"):
            return None, "redirect_uri_mismatch"
        if grant["code_challenge"]:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if grant["code_challenge_method"] != "S256" or digest != grant["code_challenge"]:
                return None, "invalid_code_verifier"
        return grant, ""
