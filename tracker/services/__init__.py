"""Service functions: every read and write of the store, with access control and audit.

==================  ========================================================================
``access``          who is acting (:class:`Actor`), what they may see, the errors raised
``accounts``        local accounts, sign-in and its throttling, sessions, passwords, assignments
``audit``           the audit log (ids and counts, never names or photo content), refusals too
``consent``         consent to research use and its withdrawal; erasure of a patient on request
``grades``          clinicians' grades of photos and patients' answers to the questionnaire
``records``         patients, courses, sessions, photos, regions, notes: the only writer
``analyses``        the analysis cache (its key and job runner) and course summaries
``batch``           batch analysis: the work queue in the database, its workers (processes, Dask)
``read_models``     patient lists and patient pages, assembled for the reader
``exports``         de-identified research tables with their generated data dictionary
``importer``        batch import from a manifest or a folder (through ``records``)
``backup``, ``demo``  whole-store backup and restore; the simulated demo installation
==================  ========================================================================

Every function takes the acting :class:`Actor` and refuses what its role may not do, so no
page or command can bypass the rules. Errors are one sentence, all :class:`ServiceError`.
Nothing here logs personal data.
"""

# Names are loaded from their module on first use (PEP 562), so that a process that needs one
# service (a batch worker: ``batch``, ``analyses``, ``access``) does not import every other one
# and what they import (the recovery model's SciPy, the report's fonts): seconds of a core at
# the start of every worker.
import importlib

_EXPORTS = {
    "access": ("SYSTEM", "AccessDenied", "Actor", "InputError", "NotFound", "ServiceError"),
    "accounts": ("BACKOFF_MAX", "BACKOFF_START", "MAX_FAILED_SIGN_INS", "MAX_PASSWORD", "MAX_SOURCE_FAILURES",
        "MIN_PASSWORD", "ROLES", "SESSION_IDLE", "SESSION_MAX", "SIGN_IN_FAILED", "actor_from_browser",
        "actor_from_token", "assign_patient", "change_password", "create_user", "list_users", "reset_password",
        "set_user_active", "sign_in", "sign_out", "unassign_patient", "unlock_user"),
    "audit": ("audit_log", "record_event"),
    "consent": ("ConsentStatus", "Erasure", "consent_status", "erase_patient", "record_consent", "withdraw_consent"),
    "grades": ("Grade", "PhotoGrades", "answer_questionnaire", "grade_photo"),
    "read_models": ("CourseDetail", "CoursePhoto", "PatientDetail", "PatientSummary", "get_patient", "list_patients"),
    "records": ("MAX_PHOTO_BYTES", "PhotoOutcome", "PhotoRecord", "RecordOutcome", "add_course", "add_note",
        "add_photo", "add_session", "create_patient", "drawn_region", "find_patient_id", "hide_photo", "list_notes",
        "parse_region", "photo_bytes", "record_photo", "refresh_analyses", "set_baseline", "set_regions",
        "unhide_photo"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later uses do not come back here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
