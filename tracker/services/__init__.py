"""Service functions: every read and write of the store, with access control and audit.

==================  ========================================================================
``access``          who is acting (:class:`Actor`), what they may see, the errors raised
``accounts``        local accounts, sign-in, sessions, provider assignments
``audit``           the audit log (ids and counts, never names or photo content)
``records``         patients, courses, sessions, photos, regions, notes: the only writer
``analyses``        the analysis cache (its key and job runner) and course summaries
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
    LOCKOUT,
    MAX_FAILED_SIGN_INS,
    ROLES,
    SESSION_IDLE,
    SESSION_MAX,
    actor_from_token,
    assign_patient,
    create_user,
    list_users,
    set_user_active,
    sign_in,
    sign_out,
    unassign_patient,
)
from tracker.services.audit import audit_log, record_event
from tracker.services.read_models import (
    CourseDetail,
    PatientDetail,
    PatientSummary,
    get_patient,
    list_patients,
)
from tracker.services.records import (
    PhotoOutcome,
    PhotoRecord,
    RecordOutcome,
    add_course,
    add_note,
    add_photo,
    add_session,
    create_patient,
    find_patient_id,
    list_notes,
    parse_region,
    photo_bytes,
    record_photo,
    refresh_analyses,
    set_regions,
)

__all__ = [
    "LOCKOUT", "MAX_FAILED_SIGN_INS", "ROLES", "SESSION_IDLE", "SESSION_MAX", "SYSTEM",
    "AccessDenied", "Actor", "CourseDetail", "InputError", "NotFound", "PatientDetail", "PatientSummary",
    "PhotoOutcome", "PhotoRecord", "RecordOutcome", "ServiceError",
    "actor_from_token", "add_course", "add_note", "add_photo", "add_session", "assign_patient", "audit_log",
    "create_patient", "create_user", "find_patient_id", "get_patient", "list_notes", "list_patients",
    "list_users", "parse_region", "photo_bytes", "record_event", "record_photo", "refresh_analyses", "set_regions",
    "set_user_active", "sign_in", "sign_out", "unassign_patient",
]
