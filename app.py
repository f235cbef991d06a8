"""The Streamlit app: sign-in, then the pages of the signed-in role.

Run with `uv run tracker app --demo` (demo data) or `uv run tracker app` (the store named by
TRACKER_DATA_DIR / TRACKER_DATABASE_URL), which serve it through serve.py with the security
headers and the upload guard. Every page runs inside the one error handler of tracker.web.errors.
"""

import streamlit as st

from tracker.web.errors import errors_shown
from tracker.web.markdown import literal
from tracker.web.session import ROLE_LABEL, current_actor, sign_in_page, sign_out

st.set_page_config(page_title="Healing tracker", page_icon="🩹", layout="wide")

PAGES = {
    "patient": [("pages/my_progress.py", "My progress", ":material/monitoring:"),
                ("pages/add_photos.py", "Add photos", ":material/add_a_photo:")],
    "provider": [("pages/patients.py", "Patients", ":material/groups:"),
                 ("pages/patient_detail.py", "Patient detail", ":material/person:")],
    "researcher": [("pages/cohort.py", "Cohort", ":material/query_stats:")],
    "admin": [("pages/admin.py", "Administration", ":material/admin_panel_settings:")],
}
ACCOUNT_PAGE = ("pages/account.py", "My account", ":material/key:")

actor = current_actor()
if actor is None:
    navigation = st.navigation([st.Page(sign_in_page, title="Sign in", icon=":material/login:")], position="hidden")
else:
    navigation = st.navigation([st.Page(path, title=title, icon=icon, default=i == 0)
                                for i, (path, title, icon) in enumerate([*PAGES[actor.role], ACCOUNT_PAGE])])
    with st.sidebar:
        st.write(f"Signed in as **{literal(actor.username)}** ({ROLE_LABEL[actor.role]})")
        if st.button("Sign out"):
            sign_out()
            st.rerun()
        st.caption("Measurements from photos are not a diagnosis.")
with errors_shown(stop=True):
    navigation.run()
