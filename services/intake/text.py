"""Free text from residents: refuse markup, and keep phone numbers typed into it off the bus."""

from __future__ import annotations

import re

from marshmallow import ValidationError, fields

from services.common.masking import mask_phone

# A tag, closing tag, comment, doctype or processing instruction: "<b>", "</p>", "<!--", "<?xml".
# As a browser reads it: "<" directly followed by a letter, "/", "!" or "?" ("3 < 5" is text).
MARKUP = re.compile(r"<(?:[A-Za-z][A-Za-z0-9-]*(?=[\s/>]|$)|/[A-Za-z]|!|\?)")
# Chinese mobile numbers (optionally +86) and landlines with an area code, not inside longer digit runs.
PHONE_IN_TEXT = re.compile(r"(?<![0-9])(?:(?:\+?86[- ]?)?1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})(?![0-9])")


def has_markup(text: str) -> bool:
    return MARKUP.search(text) is not None


def mask_phones_in_text(text: str | None) -> str | None:
    """'请联系13800138000' → '请联系138****8000': what may ride the bus or be shown publicly."""
    if not text:
        return text
    return PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0).replace(" ", "")), text)


class PlainText(fields.String):
    """A string that must not carry HTML: it is shown to residents and departments as typed."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if has_markup(text):
            raise ValidationError("Plain text only: HTML markup is not accepted.")
        return text
