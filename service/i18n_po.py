"""The dashboard's gettext catalogues: `service/locale/{kk,ru,en}/LC_MESSAGES/messages.po`, read with Babel.

Message ids are the keys the code uses (`i18n.t("map.title", lang)`), so the `.po` files of all three languages,
English included, hold the texts. A message whose text depends on a count is a plural entry (`msgid` and
`msgid_plural` both the key, one `msgstr[i]` per plural form of the language, chosen by the `n` field).

The running service reads the `.po` files themselves (compiled in memory by Babel at first use: no build step, so
`pip install -e .` on a fresh machine is enough). The commands below keep them in step with the code:

    python -m service.i18n_po extract   # the keys used in code and templates -> service/locale/messages.pot
    python -m service.i18n_po sync      # add new keys (empty, to translate) to every .po; --prune drops unused ones
    python -m service.i18n_po absorb    # move entries of the pending dict (service/i18n_catalog.py) into the .po
    python -m service.i18n_po check     # untranslated, fuzzy or inconsistent entries (exit 1 if any)
    python -m service.i18n_po compile   # write messages.mo beside each .po (for other gettext tools; optional)

Extraction follows `babel.cfg` at the project root (kept in step with METHOD_MAP below): the Python files and Jinja
templates of `service/` and `bulletins/`, keywords `t`, `tr`, `tn` and `N_` (the first argument is the key) and
`error_page` (the third). Keys built at run time (`tr('level.' ~ kind)`) are declared with `N_` in
`service/i18n.py` (DYNAMIC_KEYS) so that extraction sees them.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

SERVICE = Path(__file__).resolve().parent
ROOT = SERVICE.parent
LOCALE_DIR = SERVICE / "locale"
DOMAIN = "messages"
LANGS: tuple[str, ...] = ("ru", "kk", "en")
KEYWORDS = {"t": (1,), "tr": (1,), "tn": (1,), "N_": (1,), "error_page": (3,)}
METHOD_MAP = [
    ("service/**.py", "python"),
    ("bulletins/**.py", "python"),
    ("service/templates/**.html", "jinja2"),
    ("bulletins/templates/**.html", "jinja2"),
]
HEADER = (
    "# Tasqyn dashboard messages, language {lang} (MIT licence, see LICENSE).\n"
    "# Message ids are the keys the code uses; see service/i18n_po.py for the commands that keep this file in step."
)
FIELD = re.compile(r"{(\w*)(?:[!:][^}]*)?}")


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(lang: str, path: Path | None = None) -> Catalog:
    """The catalogue of `lang` as Babel reads it (an empty one if the file is missing)."""
    path = path or po_path(lang)
    if not path.exists():
        return Catalog(locale=lang, domain=DOMAIN)
    with path.open("rb") as f:
        return read_po(f, locale=lang, domain=DOMAIN)


def write_catalog(catalog: Catalog, path: Path) -> None:
    """Write a catalogue sorted by key, without line wrapping (diffs stay one line per change)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    catalog.fuzzy = False
    catalog.project, catalog.version = "Tasqyn", "1.0"
    catalog.msgid_bugs_address = ""
    catalog.last_translator = catalog.language_team = "Tasqyn"
    catalog.header_comment = HEADER.format(lang=catalog.locale_identifier or "")
    buf = io.BytesIO()
    write_po(buf, catalog, width=0, sort_output=True, omit_header=False, ignore_obsolete=True)
    path.write_bytes(buf.getvalue())


def messages(catalog: Catalog) -> dict[str, str | tuple[str, ...]]:
    """{key: text} (a tuple of plural forms for a plural entry); fuzzy and empty entries are left out."""
    out: dict[str, str | tuple[str, ...]] = {}
    for m in catalog:
        if not m.id or m.fuzzy:
            continue
        key = m.id[0] if isinstance(m.id, (list, tuple)) else m.id
        if isinstance(m.string, (list, tuple)):
            if all(m.string):
                out[key] = tuple(m.string)
        elif m.string:
            out[key] = m.string
    return out


def mo_bytes(catalog: Catalog) -> bytes:
    """The catalogue compiled to the binary .mo format (what gettext.GNUTranslations reads)."""
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


# --- extraction ---------------------------------------------------------------------------------------------------


def extract_keys(root: Path = ROOT) -> dict[str, list[tuple[str, int]]]:
    """Every literal key passed to t / tr / tn / N_ in the service's Python files and templates, with where."""
    out: dict[str, list[tuple[str, int]]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(root), METHOD_MAP, keywords=KEYWORDS, comment_tags=(), strip_comment_tags=True
    ):
        key = message[0] if isinstance(message, (list, tuple)) else message
        if isinstance(key, str) and key and re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*", key):
            out.setdefault(key, []).append((filename, lineno))
    return out


def template_catalog(keys: Mapping[str, list[tuple[str, int]]], plural: Iterable[str] = ()) -> Catalog:
    """The .pot: one entry per key (plural where the English catalogue has it plural)."""
    plural = set(plural)
    pot = Catalog(domain=DOMAIN, project="Tasqyn", charset="utf-8")
    for key in sorted(keys):
        pot.add((key, key) if key in plural else key, locations=keys[key])
    return pot


def _plural_keys() -> set[str]:
    return {m.id[0] for m in read_catalog("en") if isinstance(m.id, (list, tuple))}


def extract(root: Path = ROOT) -> Path:
    keys = extract_keys(root)
    out = LOCALE_DIR / f"{DOMAIN}.pot"
    pot = template_catalog(keys, _plural_keys())
    buf = io.BytesIO()
    write_po(buf, pot, width=0, sort_output=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buf.getvalue())
    return out


def _english_comment(en: Mapping[str, str | tuple[str, ...]], key: str) -> list[str]:
    text = en.get(key)
    if text is None:
        return []
    return ["English: " + (" | ".join(text) if isinstance(text, tuple) else text)]


def sync(prune: bool = False, root: Path = ROOT) -> dict[str, list[str]]:
    """Add every key used in the code but missing from a catalogue (empty, to translate; English texts as
    comments in kk and ru); with `prune`, drop keys no longer used. Returns {lang: keys added}."""
    used = extract_keys(root)
    plural = _plural_keys()
    en = messages(read_catalog("en"))
    added: dict[str, list[str]] = {}
    for lang in LANGS:
        cat = read_catalog(lang)
        have = {m.id[0] if isinstance(m.id, (list, tuple)) else m.id for m in cat if m.id}
        for key in sorted(set(used) - have):
            mid = (key, key) if key in plural else key
            string = ("",) * cat.num_plurals if key in plural else ""
            cat.add(mid, string, auto_comments=[] if lang == "en" else _english_comment(en, key))
            added.setdefault(lang, []).append(key)
        if prune:
            for key in sorted(have - set(used)):
                cat.delete(key)
        write_catalog(cat, po_path(lang))
    return added


def absorb(pending: Mapping[str, Mapping[str, str]] | None = None) -> list[str]:
    """Move the entries of the pending dict (service.i18n_catalog.CATALOG: key -> {lang: text}) into the .po
    files (a text there replaces the catalogue's). Returns the keys moved; empty the dict afterwards."""
    if pending is None:
        from service.i18n_catalog import CATALOG as pending  # noqa: N811
    en_texts = {k: v.get("en", "") for k, v in pending.items()}
    for lang in LANGS:
        cat = read_catalog(lang)
        for key, texts in pending.items():
            if texts.get(lang):
                comments = [] if lang == "en" or not en_texts[key] else ["English: " + en_texts[key]]
                cat.delete(key)
                cat.add(key, texts[lang], auto_comments=comments)
        write_catalog(cat, po_path(lang))
    return sorted(pending)


def compile_mo() -> list[Path]:
    out = []
    for lang in LANGS:
        path = po_path(lang).with_suffix(".mo")
        path.write_bytes(mo_bytes(read_catalog(lang)))
        out.append(path)
    return out


def problems(catalogs: Mapping[str, Catalog] | None = None) -> list[str]:
    """What is wrong with the catalogues: a key missing or untranslated (or fuzzy) in a language, a plural entry
    with a wrong number of forms, `{fields}` that differ from the English text's."""
    cats = dict(catalogs) if catalogs is not None else {lang: read_catalog(lang) for lang in LANGS}
    msgs = {lang: messages(c) for lang, c in cats.items()}
    keys = set().union(*(set(m) for m in msgs.values()), *({_id(x) for x in c if x.id} for c in cats.values()))
    out = []
    for key in sorted(keys):
        en = msgs.get("en", {}).get(key)
        for lang, cat in cats.items():
            text = msgs[lang].get(key)
            if text is None:
                out.append(f"{lang}: {key}: no translation")
                continue
            if isinstance(text, tuple) and len(text) != cat.num_plurals:
                out.append(f"{lang}: {key}: {len(text)} plural forms, the language has {cat.num_plurals}")
            if en is not None and fields_of(text) != fields_of(en):
                mine, english = sorted(fields_of(text)), sorted(fields_of(en))
                out.append(f"{lang}: {key}: fields {mine} differ from English {english}")
    return out


def _id(m: Message) -> str:
    return m.id[0] if isinstance(m.id, (list, tuple)) else m.id


def fields_of(text: str | tuple[str, ...]) -> set[str]:
    """The `{field}` names of a text (of every plural form)."""
    forms = text if isinstance(text, tuple) else (text,)
    return {f for form in forms for f in FIELD.findall(form.replace("{{", "").replace("}}", ""))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m service.i18n_po", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("extract")
    s = sub.add_parser("sync")
    s.add_argument("--prune", action="store_true")
    sub.add_parser("absorb")
    sub.add_parser("check")
    sub.add_parser("compile")
    args = ap.parse_args(argv)
    if args.cmd == "extract":
        print(extract())
    elif args.cmd == "sync":
        for lang, keys in sync(args.prune).items():
            print(f"{lang}: {len(keys)} new keys to translate: {', '.join(keys)}")
    elif args.cmd == "absorb":
        print(f"moved {len(absorb())} keys into the .po files; now empty service/i18n_catalog.py CATALOG")
    elif args.cmd == "compile":
        for p in compile_mo():
            print(p)
    else:
        bad = problems()
        for line in bad:
            print(line)
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
