"""Streamlit widgets the pages share: the only part of `vibegen` that imports Streamlit."""
