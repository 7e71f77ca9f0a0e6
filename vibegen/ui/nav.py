"""The sidebar's page list: the app's pages by name, Generate first, the Image page left out."""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

# (script, label): the URLs stay the pages/ file names (/History, /Review?link=…, /Image?…), so
# every link handed out keeps working. The Image page is opened from a grid, never from here.
PAGES = (
    ("app.py", "Generate"),
    ("pages/1_History.py", "History"),
    ("pages/2_Review.py", "Review"),
    ("pages/3_Briefs.py", "Briefs"),
    ("pages/4_Leaderboard.py", "Leaderboard"),
    ("pages/5_Models.py", "Models"),
    ("pages/7_Spend.py", "Spend"),
)


def page_nav() -> None:
    """The page links at the top of the sidebar (Streamlit's own list is off in config.toml).

    Pure pages/ mode, not st.navigation: with a pages/ folder, a deep link that is a fresh
    server's first request runs its page without the entrypoint, so st.navigation's list would
    be missing exactly then. Every page calls this through `frame`, so the list is always there.
    """
    with st.sidebar:
        for script, label in PAGES:
            try:
                st.page_link(script, label=label)
            except StreamlitPageNotFoundError:
                # A page file run on its own (a test of one page) has no other pages to link to.
                continue
