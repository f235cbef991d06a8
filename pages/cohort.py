"""Researchers: a de-identified cohort table, cohort curves and downloads."""

import io

import streamlit as st

from tracker.services.consent import left_out_sentence
from tracker.services.exports import data_dictionary, research_export
from tracker.recovery.agreement import MIN_PAIRS, METHOD as AGREEMENT_METHOD, SOURCE as AGREEMENT_SOURCE
from tracker.recovery.agreement import spearman_agreement
from tracker.web.views import agreement_chart, cohort_chart, cohort_curves, graded_redness, treatment_name
from tracker.web.session import get_store, require_actor

actor = require_actor("researcher", "admin")
store = get_store()
st.title("Cohort")
st.caption("De-identified: pseudonymous ids, days since treatment instead of dates, no names, no notes. "
           "Only patients who consented to research use.")

if "cohort" not in st.session_state or st.button("Refresh the table"):
    st.session_state["cohort"] = research_export(store, actor)
table = st.session_state["cohort"].table
st.caption(left_out_sentence(st.session_state["cohort"].patients_left_out))
if table.empty:
    st.info("There are no measured photos yet.")
    st.stop()

left, middle, right = st.columns(3)
treatments = left.multiselect("Treatment", sorted(table["treatment"].unique()), format_func=treatment_name)
tones = middle.multiselect("Skin-tone category (ITA°)", sorted(table["skin_tone_category"].dropna().unique()))
low, high = int(table["days_since_treatment"].min()), int(table["days_since_treatment"].max())
window = right.slider("Days since treatment", low, max(high, low + 1), (low, max(high, low + 1)))
shown = table[table["days_since_treatment"].between(*window)]
if treatments:
    shown = shown[shown["treatment"].isin(treatments)]
if tones:
    shown = shown[shown["skin_tone_category"].isin(tones)]

st.write(f"{len(shown)} photos of {shown['patient_pseudonym'].nunique()} patients.")
st.dataframe(shown.head(200), hide_index=True, width="stretch")
curves = cohort_curves(shown)
if len(curves):
    st.subheader("Redness over time, by treatment")
    st.altair_chart(cohort_chart(curves), width="stretch")
    st.caption("Median (line) and interquartile range (band) of redness above before-treatment, photos that "
               "passed the quality gate, in weekly bins.")

st.subheader("Photo redness against the clinician's erythema grade")
graded = graded_redness(shown)
agreement = spearman_agreement(graded["redness_delta_a"], graded["cea_grade"])
if agreement is None:
    st.info(f"Not enough graded photos: {len(graded)} photos that passed the quality gate have a clinician's "
            f"erythema grade (CEA); agreement is shown from {MIN_PAIRS}.")
else:
    st.write(f"Spearman's ρ = {agreement.rho:.2f} (95 % confidence interval {agreement.low:.2f} to "
             f"{agreement.high:.2f}), {agreement.n} graded photos of {graded['patient_pseudonym'].nunique()} "
             "patients.")
    st.altair_chart(agreement_chart(graded), width="stretch")
st.caption(f"Method: {AGREEMENT_METHOD} Photos of one patient are not independent, so the interval is optimistic "
           f"when patients contribute several. Source: {AGREEMENT_SOURCE}.")

parquet = io.BytesIO()
shown.to_parquet(parquet, index=False)
cols = st.columns(3)
cols[0].download_button("Download CSV", shown.to_csv(index=False).encode(), "cohort.csv", "text/csv", type="primary")
cols[1].download_button("Download Parquet", parquet.getvalue(), "cohort.parquet", "application/octet-stream")
cols[2].download_button("Data dictionary (CSV)", data_dictionary().to_csv(index=False).encode(),
                        "cohort.dictionary.csv", "text/csv")
