"""The one way an XML body from outside is read: `defusedxml`, DTDs forbidden.

A byte check for `<!DOCTYPE` misses the same declaration written in UTF-16 (or
UTF-32, or with a BOM); the parser sees it whatever the encoding, so the refusal
happens inside the parser, before any element is read (issue 16 item 11). No
document Returnbridge accepts (eBay's SOAP notifications, the ECB rate files)
carries a DTD, so refusing every one costs nothing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring


class UnsafeXml(ValueError):
    """Not well-formed, or declares a DTD, entities or external references."""


def parse_untrusted(body: bytes | str) -> ET.Element:
    """The root element of `body`; `UnsafeXml` names why it was refused."""
    try:
        return fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise UnsafeXml(f"XML with a DTD, entities or external references is refused ({type(exc).__name__})") from None
    except (ET.ParseError, ValueError, LookupError) as exc:  # LookupError: an encoding Python does not know
        raise UnsafeXml(f"not well-formed XML ({exc})") from None
