#!/usr/bin/env python3
"""Check the Lotse translation catalogs against the German reference.

Usage:  python3 check.py [CATALOG_DIR]      (default: the folder of this script)

Exits non-zero when a catalog is not a flat JSON object of strings, lacks a
key that de.json has, has a key that de.json lacks, uses a different set of
{placeholders} than German for the same key, has an empty text, or has wrong
meta keys (_name, _dir).  Standard library only.
"""
import json
import os
import re
import sys

LANGS = ["de", "en", "uk", "ru", "ar", "fa", "tr", "ro", "bg"]
RTL = {"ar", "fa"}
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def load(path, errors):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        errors.append(f"{path}: cannot read: {e}")
        return None
    if not isinstance(data, dict):
        errors.append(f"{path}: top level is not an object")
        return None
    for k, v in data.items():
        if not isinstance(v, str):
            errors.append(f"{path}: {k}: value is not a string")
        elif not v.strip():
            errors.append(f"{path}: {k}: empty text")
    return data


def placeholders(text):
    return set(PLACEHOLDER.findall(text)) if isinstance(text, str) else set()


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    errors = []
    catalogs = {}
    for lang in LANGS:
        data = load(os.path.join(folder, f"{lang}.json"), errors)
        if data is not None:
            catalogs[lang] = data
    ref = catalogs.get("de")
    if ref is None:
        errors.append("de.json is missing or broken: nothing to compare against")
    else:
        for lang, data in catalogs.items():
            want_dir = "rtl" if lang in RTL else "ltr"
            if data.get("_dir") != want_dir:
                errors.append(f"{lang}: _dir must be {want_dir!r}, is {data.get('_dir')!r}")
            if not data.get("_name"):
                errors.append(f"{lang}: _name missing")
            for key in sorted(set(ref) - set(data)):
                errors.append(f"{lang}: missing key {key}")
            for key in sorted(set(data) - set(ref)):
                errors.append(f"{lang}: extra key {key}")
            for key in sorted(set(ref) & set(data)):
                if key.startswith("_"):
                    continue
                want, got = placeholders(ref[key]), placeholders(data[key])
                if want != got:
                    errors.append(f"{lang}: {key}: placeholders {sorted(got)} differ from German {sorted(want)}")
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"FAILED: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    n = len(ref) if ref else 0
    print(f"ok: {len(catalogs)} catalogs, {n} keys each, placeholders match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
