"""Security and privacy helpers: message signatures from field gateways, keyed pseudonyms for meter ids."""

from gridmon.security.pseudonym import pseudonymise
from gridmon.security.signature import SIGNATURE_HEADER, MessageVerifier, sign

__all__ = ["SIGNATURE_HEADER", "MessageVerifier", "pseudonymise", "sign"]
