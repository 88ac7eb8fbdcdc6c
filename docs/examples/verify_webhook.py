#!/usr/bin/env python3
"""Verifies a Bazaarche webhook delivery (docs/integrations.md, "Verifying a delivery").

Use `verify(body, header, secret)` in your receiver, on the raw request body (bytes, before any
JSON parsing) and the `Bazaarche-Signature` header. From the command line:

    verify_webhook.py --secret whsec_... --signature 't=...,v1=...' < body.json

exits 0 when the signature is valid and fresh, 1 otherwise. Standard library only.
"""
import argparse
import hashlib
import hmac
import sys
import time


def verify(body: bytes, header: str, secret: str, tolerance: int = 300, now: float | None = None) -> bool:
    """True when one `v1=` signature in `header` is HMAC-SHA256(secret, "<t>.<body>") and `t` is
    within `tolerance` seconds of now (a replayed old delivery fails)."""
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    # During a secret rotation there are two v1 signatures: either may match.
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secret", required=True, help="the endpoint's secret (whsec_...)")
    parser.add_argument("--signature", required=True, help="the Bazaarche-Signature header")
    args = parser.parse_args()
    ok = verify(sys.stdin.buffer.read(), args.signature, args.secret)
    print("valid" if ok else "INVALID")
    sys.exit(0 if ok else 1)
