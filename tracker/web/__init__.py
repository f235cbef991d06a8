"""The web face: Streamlit glue, error handling, what pages show, and the PDF report.

==============  ========================================================================
``session``     the store, the signed-in actor, sign-in and sign-out, photos for display
``errors``      the one handler that turns every error into a message
``markdown``    user text shown literally inside Streamlit's Markdown
``server``      security headers and the upload guard around the app (``serve.py``)
``views``       tables, charts, images and texts pages show (no Streamlit: testable alone)
``report``      the provider's PDF report
==============  ========================================================================

The Streamlit scripts themselves (``app.py``, ``serve.py`` and ``pages/``) are layout and wiring over
these modules; :func:`app_dir` finds them in a source checkout or inside the installed
package.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["app_dir"]

_PACKAGED_APP = Path(__file__).resolve().parent / "app"
_CHECKOUT = Path(__file__).resolve().parents[2]


def app_dir() -> Path:
    """The folder holding the Streamlit app (``app.py``, ``pages/``, ``.streamlit/``).

    Raises
    ------
    FileNotFoundError
        Neither the installed package nor a source checkout holds the app.
    """
    for folder in (_PACKAGED_APP, _CHECKOUT):
        if (folder / "app.py").is_file() and (folder / "serve.py").is_file() and (folder / "pages").is_dir():
            return folder
    raise FileNotFoundError(f"the web app is missing: neither {_PACKAGED_APP} nor {_CHECKOUT} holds app.py "
                            "and pages/; reinstall the package")
