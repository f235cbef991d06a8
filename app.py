"""Streamlit entry point. The full app (sign-in, patient, provider and researcher pages) is built in pages/."""

import streamlit as st

st.set_page_config(page_title="Healing tracker", page_icon="🩹", layout="wide")
st.title("Healing-progress photo tracker")
st.write(
    "Follows skin as it recovers after a cosmetic laser treatment: photos are aligned to the first one, "
    "their colour is normalised, and redness, pigmentation and texture are measured in the treated area."
)
st.info(
    "The patient, provider and researcher pages are on their way. Meanwhile the analysis engine is available "
    "from the command line: `uv run tracker analyze --reference BASELINE.jpg PHOTO.jpg ...`"
)
st.caption("Measurements from photos are not a diagnosis. Ask your provider about anything that worries you.")
