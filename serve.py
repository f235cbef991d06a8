"""Serves the Streamlit app (app.py) behind the tracker's security headers and upload guard.

`tracker app` runs `streamlit run serve.py`; see tracker/web/server.py for what the middleware does.
Running `streamlit run app.py` directly serves the same pages without them: do that only in development.
"""

import streamlit as st

from tracker.web.server import middleware

app = st.App("app.py", middleware=middleware())
