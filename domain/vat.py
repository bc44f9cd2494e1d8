"""EU VAT identification numbers: the format each member state uses (pure).

A format check catches typos; whether the number is registered is VIES's business, which an
activity can ask later through the same `VatChecker` interface.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Country code as used in VAT IDs (Greece is EL) -> pattern of what follows it.
VAT_FORMATS: dict[str, str] = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
    "FI": r"\d{8}",
    "FR": r"[A-HJ-NP-Z0-9]{2}\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}",
    "IE": r"\d{7}[A-W][A-I]?|\d[A-Z+*]\d{5}[A-W]",
    "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"[1-9]\d{1,9}",
    "SE": r"\d{10}01",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
}

# ISO 3166 country of the address -> VAT prefix (they differ only for Greece).
EU_COUNTRIES: frozenset[str] = frozenset(code if code != "EL" else "GR" for code in VAT_FORMATS)


def vat_prefix(country: str) -> str:
    return "EL" if country == "GR" else country


def normalise_vat_id(vat_id: str) -> str:
    return re.sub(r"[\s.\-]", "", vat_id).upper()


@dataclass(frozen=True)
class VatCheck:
    valid: bool
    reason: str


def check_vat_format(country: str, vat_id: str) -> VatCheck:
    """Does `vat_id` have the format of the member state `country` (ISO 3166 alpha-2)?"""
    normalised = normalise_vat_id(vat_id)
    prefix = vat_prefix(country)
    if prefix not in VAT_FORMATS:
        return VatCheck(False, f"{country} is not an EU member state")
    if not normalised.startswith(prefix):
        return VatCheck(False, f"a VAT ID of {country} starts with {prefix}")
    if not re.fullmatch(VAT_FORMATS[prefix], normalised[len(prefix) :]):
        return VatCheck(False, f"{normalised} does not have the format of a {prefix} VAT ID")
    return VatCheck(True, "format valid")
