"""`tracker export --format fhir`: an R4 Bundle that validates (fhir.resources, R4B), holds what the CSV holds
and no one who did not consent."""

from __future__ import annotations

import json
import subprocess
from collections import Counter

import pandas as pd
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.media import Media
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.observationdefinition import ObservationDefinition
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure

from conftest import copy_data_dir, tracker_command
from tracker import services as sv
from tracker.analysis import METRICS
from tracker.recovery import TREATMENTS
from tracker.services.exports import research_export
from tracker.services.fhir import METRIC_SYSTEM, UCUM
from tracker.store.db import open_store

RESOURCE_TYPES = {"Patient": Patient, "Procedure": Procedure, "Media": Media, "Observation": Observation,
                  "ObservationDefinition": ObservationDefinition}


@pytest.fixture(scope="module")
def exported(demo_template, tmp_path_factory):
    """The demo with Ben's consent withdrawn, exported as FHIR by the command line: (bundle, table, folder)."""
    folder = tmp_path_factory.mktemp("fhir")
    data_dir = copy_data_dir(demo_template, folder / "data")
    store = open_store(data_dir)
    try:
        sv.withdraw_consent(store, sv.SYSTEM, sv.find_patient_id(store, sv.SYSTEM, "demo-ben"))
        table = research_export(store, sv.SYSTEM).table
    finally:
        store.close()
    out = folder / "cohort.fhir.json"
    done = subprocess.run([*tracker_command(), "--data-dir", str(data_dir), "export", "--format", "fhir", "--out",
                           str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "1 patient left out: no consent to research use" in done.stdout
    return json.loads(out.read_text(encoding="utf-8")), table, folder


def test_the_bundle_and_every_resource_validate_as_fhir(exported):
    bundle, _, _ = exported
    Bundle.model_validate(bundle)
    kinds = Counter()
    for entry in bundle["entry"]:
        resource = entry["resource"]
        RESOURCE_TYPES[resource["resourceType"]].model_validate(resource)
        kinds[resource["resourceType"]] += 1
    assert kinds["ObservationDefinition"] == len(METRICS) and set(UCUM) == set(METRICS)
    assert (kinds["Patient"], kinds["Procedure"]) == (1, 1)


def test_the_bundle_holds_what_the_table_holds_for_consenting_patients_only(exported):
    bundle, table, _ = exported
    resources = [e["resource"] for e in bundle["entry"]]
    by_type = {kind: [r for r in resources if r["resourceType"] == kind] for kind in RESOURCE_TYPES}
    assert table["patient_pseudonym"].nunique() == 1  # Ana only: Ben withdrew
    (patient,) = by_type["Patient"]
    assert patient["identifier"][0]["value"] == table["patient_pseudonym"].iloc[0]
    assert set(patient) == {"resourceType", "id", "identifier"}  # no name, birth date, gender, address
    assert len(by_type["Media"]) == len(table)
    measured = table[table["analysis_ok"]]
    expected = {(row["days_since_treatment"], name): row[name] for _, row in measured.iterrows() for name in METRICS
                if pd.notna(row[name])}
    media_day = {m["id"]: int(m["note"][0]["text"].split()[1].rstrip(";")) for m in by_type["Media"]}
    found = {}
    for obs in by_type["Observation"]:
        (coding,) = obs["code"]["coding"]
        assert coding["system"] == METRIC_SYSTEM
        quantity = obs["valueQuantity"]
        assert (quantity["system"], quantity["code"]) == ("http://unitsofmeasure.org", UCUM[coding["code"]])
        media = obs["derivedFrom"][0]["reference"].removeprefix("urn:uuid:Media-")
        found[(media_day[media], coding["code"])] = quantity["value"]
    assert found.keys() == expected.keys()
    assert all(found[k] == pytest.approx(v) for k, v in expected.items())
    (procedure,) = by_type["Procedure"]
    assert procedure["code"] == {"text": TREATMENTS["fractional_co2"].name, "coding": [
        {"system": "http://snomed.info/sct", "code": "445907001", "display": "Laser procedure on skin"}]}
    text = json.dumps(bundle)
    for secret in ("demo-ana", "demo-ben", "2026-"):
        assert secret not in text


def test_only_laser_treatments_carry_the_snomed_laser_procedure_code():
    from tracker.services.fhir import SNOMED_PROCEDURE

    assert set(SNOMED_PROCEDURE) <= set(TREATMENTS)
    for key, treatment in TREATMENTS.items():
        laser_only = "laser" in treatment.name.lower() and "radiofrequency" not in treatment.name.lower()
        assert (key in SNOMED_PROCEDURE) == laser_only, key
