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

from tracker.services.access import (
    SYSTEM,
    AccessDenied,
    Actor,
    InputError,
    NotFound,
    ServiceError,
)
from tracker.services.accounts import (
    BACKOFF_MAX,
    BACKOFF_START,
    MAX_FAILED_SIGN_INS,
    MAX_PASSWORD,
    MAX_SOURCE_FAILURES,
    MIN_PASSWORD,
    ROLES,
    SESSION_IDLE,
    SESSION_MAX,
    SIGN_IN_FAILED,
    actor_from_browser,
    actor_from_token,
    assign_patient,
    change_password,
    create_user,
    list_users,
    reset_password,
    set_user_active,
    sign_in,
    sign_out,
    unassign_patient,
    unlock_user,
)
from tracker.services.audit import audit_log, record_event
from tracker.services.consent import (
    ConsentStatus,
    Erasure,
    consent_status,
    erase_patient,
    record_consent,
    withdraw_consent,
)
from tracker.services.grades import Grade, PhotoGrades, answer_questionnaire, grade_photo
from tracker.services.read_models import (
    CourseDetail,
    CoursePhoto,
    PatientDetail,
    PatientSummary,
    get_patient,
    list_patients,
)
from tracker.services.records import (
    MAX_PHOTO_BYTES,
    PhotoOutcome,
    PhotoRecord,
    RecordOutcome,
    add_course,
    add_note,
    add_photo,
    add_session,
    create_patient,
    drawn_region,
    find_patient_id,
    hide_photo,
    list_notes,
    parse_region,
    photo_bytes,
    record_photo,
    refresh_analyses,
    set_baseline,
    set_regions,
    unhide_photo,
)

__all__ = [
    "BACKOFF_MAX", "BACKOFF_START", "MAX_FAILED_SIGN_INS", "MAX_PASSWORD", "MAX_PHOTO_BYTES", "MAX_SOURCE_FAILURES",
    "MIN_PASSWORD", "ROLES",
    "SESSION_IDLE", "SESSION_MAX", "SIGN_IN_FAILED", "SYSTEM",
    "AccessDenied", "Actor", "ConsentStatus", "CourseDetail", "CoursePhoto", "Erasure", "Grade", "InputError",
    "NotFound", "PatientDetail", "PatientSummary", "PhotoGrades", "PhotoOutcome", "PhotoRecord", "RecordOutcome",
    "ServiceError", "actor_from_browser", "actor_from_token", "add_course", "add_note", "add_photo", "add_session",
    "answer_questionnaire", "assign_patient", "audit_log",
    "change_password", "consent_status", "create_patient", "create_user", "drawn_region", "erase_patient",
    "find_patient_id", "get_patient", "grade_photo", "hide_photo", "list_notes", "list_patients", "list_users",
    "parse_region", "photo_bytes",
    "record_consent", "record_event", "record_photo", "refresh_analyses", "reset_password", "set_baseline",
    "set_regions", "set_user_active", "sign_in", "sign_out", "unassign_patient", "unhide_photo", "unlock_user",
    "withdraw_consent",
]
