"""Messages waiting to move into the gettext catalogues (service/locale/<lang>/LC_MESSAGES/messages.po): key ->
{language: text} (kk, ru, en).

The dashboard's messages live in the .po files now. Code in progress may add a key here so that
`i18n.t` finds it at once; `python -m service.i18n_po absorb` then
moves every entry of this dict into the .po files (a text there is replaced), after which the entries are deleted
from here. The catalogue test checks these entries like the .po ones (kk and ru present).
"""

from __future__ import annotations

CATALOG: dict[str, dict[str, str]] = {}
