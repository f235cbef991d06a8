"""The de-identified export as an HL7 FHIR R4 Bundle (``tracker export --format fhir``).

Built from the research table (:func:`tracker.services.exports.research_export`), so it holds
exactly what the CSV holds: consenting patients only, pseudonyms, days instead of dates. A
``collection`` Bundle of

* ``Patient``: the pseudonym only (no name, identifier, birth date or gender);
* ``Procedure``: the treatment of each treated area, ``completed``, "performed" as day 0 of the
  follow-up. Its code is the catalogue's name, with the SNOMED CT concept 445907001 "Laser
  procedure on skin" for the laser treatments (:data:`SNOMED_PROCEDURE`; the concept is listed in
  DICOM PS3.16 CID 4409 "Skin Procedure"). More specific concepts (resurfacing, fractional)
  could not be checked against a SNOMED CT release here, and a wrong code is worse than a
  general one; IPL (not a laser) and "laser or radiofrequency" tightening get the name only;
* ``Media``: each photo, as a reference (``urn:healing-tracker:photo:…``), never its pixels,
  with the days since treatment;
* ``ObservationDefinition``: each metric's definition (formula, colour space, units, source),
  generated from :data:`tracker.analysis.METRICS`;
* ``Observation``: one per metric per measured photo, ``derivedFrom`` its Media and ``partOf``
  its Procedure, its value a UCUM ``Quantity``, its code the metric's, the same coding its
  ObservationDefinition carries.

Only the structures of FHIR R4 (4.0.1) are used; the tests validate them with
``fhir.resources.R4B`` (4.3.0, whose Patient, Procedure, Media, Observation and
ObservationDefinition match R4's), the release that package validates closest to R4.
"""

from __future__ import annotations

import math

import pandas as pd

from tracker.analysis import METRICS
from tracker.recovery import TREATMENTS

__all__ = ["METRIC_SYSTEM", "SNOMED_PROCEDURE", "UCUM", "fhir_bundle"]

METRIC_SYSTEM = "urn:healing-tracker:metric"
_PSEUDONYM_SYSTEM = "urn:healing-tracker:pseudonym"
_UCUM_SYSTEM = "http://unitsofmeasure.org"

#: UCUM code of each metric's units: dimensionless indices and fractions are "1", angles "deg",
#: areas "cm2", entropy "bit" (Unified Code for Units of Measure, Regenstrief Institute).
UCUM = {
    "redness_a": "1", "redness_delta_a": "1", "erythema_index": "1", "erythema_area_fraction": "1",
    "lightness_l": "1", "yellowness_b": "1", "ita_deg": "deg", "melanin_index": "1", "texture_contrast": "1",
    "texture_homogeneity": "1", "texture_energy": "1", "texture_entropy": "bit", "lbp_uniformity": "1",
    "hf_energy": "1", "erythema_area_cm2": "cm2", "redness_change_p90": "1", "redness_focal_a": "1",
    "haemoglobin_takiwaki": "1", "melanin_takiwaki": "1",
}

_LASER_PROCEDURE_ON_SKIN = {"system": "http://snomed.info/sct", "code": "445907001",
                            "display": "Laser procedure on skin"}

SNOMED_PROCEDURE = {key: _LASER_PROCEDURE_ON_SKIN for key in (
    "fully_ablative_co2", "fractional_co2", "fully_ablative_erbium", "fractional_erbium", "non_ablative_fractional",
    "thulium_1927")}
"""SNOMED CT coding of each catalogue treatment that has one (module notes)."""


def _id(*parts: str) -> str:
    """A FHIR id (letters, digits, '-' and '.', at most 64)."""
    return "-".join(parts).replace("_", "-")[:64]


def _entry(resource: dict) -> dict:
    return {"fullUrl": f"urn:uuid:{resource['resourceType']}-{resource['id']}", "resource": resource}


def _reference(resource_type: str, resource_id: str) -> dict:
    return {"reference": f"urn:uuid:{resource_type}-{resource_id}"}


def _metric_coding(name: str) -> dict:
    return {"coding": [{"system": METRIC_SYSTEM, "code": name, "display": METRICS[name].label}],
            "text": METRICS[name].label}


def _definitions() -> list[dict]:
    return [{
        "resourceType": "ObservationDefinition", "id": _id("metric", name), "code": _metric_coding(name),
        "permittedDataType": ["Quantity"], "preferredReportName": d.label,
        "method": {"text": f"{d.description} Formula: {d.formula}. Colour space: {d.colour_space}. "
                           f"Source: {d.source}."},
        "quantitativeDetails": {"unit": {"coding": [{"system": _UCUM_SYSTEM, "code": UCUM[name]}], "text": d.units}},
    } for name, d in METRICS.items()]


def _finite(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def fhir_bundle(table: pd.DataFrame) -> dict:
    """The Bundle (as JSON-ready dicts) of a research table; see the module's description."""
    entries = [_entry(d) for d in _definitions()]
    for pseudonym in dict.fromkeys(table["patient_pseudonym"]):
        entries.append(_entry({"resourceType": "Patient", "id": _id("p", pseudonym),
                               "identifier": [{"system": _PSEUDONYM_SYSTEM, "value": pseudonym}]}))
    for course, rows in table.groupby("course_pseudonym", sort=False):
        first = rows.iloc[0]
        patient = _reference("Patient", _id("p", first["patient_pseudonym"]))
        procedure_id = _id("t", course)
        treatment = TREATMENTS.get(first["treatment"])
        entries.append(_entry({
            "resourceType": "Procedure", "id": procedure_id, "status": "completed", "subject": patient,
            "code": {"text": treatment.name if treatment else str(first["treatment"]),
                     **({"coding": [SNOMED_PROCEDURE[first["treatment"]]]}
                        if first["treatment"] in SNOMED_PROCEDURE else {})},
            "performedString": "day 0 of the follow-up (dates are not exported)",
        }))
        for n, (_, row) in enumerate(rows.iterrows()):
            media_id = _id("m", course, str(n))
            entries.append(_entry({
                "resourceType": "Media", "id": media_id, "status": "completed", "subject": patient,
                "partOf": [_reference("Procedure", procedure_id)],
                "content": {"url": f"urn:healing-tracker:photo:{course}:{n}",
                            "title": f"Photo {n + 1} of the treated area (not exported)"},
                "note": [{"text": f"Day {row['days_since_treatment']} since the first session; "
                                  f"day {row['days_since_session']} since session {row['session']}."}],
            }))
            if not row["analysis_ok"]:
                continue
            for name in METRICS:
                value = row[name]
                if not _finite(value):
                    continue
                entries.append(_entry({
                    "resourceType": "Observation", "id": _id("o", course, str(n), name), "status": "final",
                    "code": _metric_coding(name), "subject": patient,
                    "partOf": [_reference("Procedure", procedure_id)],
                    "derivedFrom": [_reference("Media", media_id)],
                    "valueQuantity": {"value": float(value), "unit": METRICS[name].units, "system": _UCUM_SYSTEM,
                                      "code": UCUM[name]},
                    "method": {"text": f"Metric version {row['metric_version']}; definition: ObservationDefinition "
                                       f"{_id('metric', name)}"},
                }))
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
