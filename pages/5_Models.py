"""Models: every model the routers offer, priced and current; refresh, search, add by id."""

import datetime as dt

import pandas as pd
import streamlit as st

from vibegen import discovery, listings
from vibegen.discovery import DiscoveryError
from vibegen.errors import InputError, StoreError
from vibegen.model_search import SHORTLIST_SETTING, Filter, base_usd, dump_shortlist, price_hint
from vibegen.routers import router_status
from vibegen.runner import concurrency_in_force, concurrency_setting
from vibegen.ui.access import require_owner
from vibegen.ui.runtime import frame, local_time
from vibegen.user_models import check_fal_id, fal_model_entry, user_file_path

ctx = frame("Models")
require_owner(ctx)  # served to a network, this page is the owner's
today = dt.date.today()
cat, index = ctx.catalog, ctx.index
st.title("Models and routers")

rows = []
for name, info in cat.routers.items():
    status = router_status(name, cat, ctx.env)
    fetched = index.fetched.get(f"{name}:models")
    rows.append(
        {
            "router": info.label,
            "status": "ready" if status.enabled else status.reason,
            "needs": info.needs(),
            "cost comes from": info.cost_reporting,
            # What this account is held to, with the figure in force (the setting, if set).
            "limits": info.limits(
                concurrency_in_force(name, info.concurrency, ctx.env), concurrency_setting(name)
            ),
            "listing fetched": local_time(fetched)  # the viewer's clock
            if fetched
            else listings.NO_LISTING.get(name, "—" if info.simulated else "not yet"),
            "get it at": info.key_url,
        }
    )
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
for source, error in sorted(index.errors.items()):
    st.warning(f"Last refresh of {source}: {error}")
for problem in ctx.catalog_problems:
    st.error(problem)

if st.button(
    "Refresh from the routers",
    key="refresh_listings",
    help="fal's model search needs no key; prices, OpenAI and SD need theirs. "
    "Also done on its own at most once a day.",
):
    sources = ["fal:models"] + [
        s for s in listings.SOURCES[1:] if router_status(s.split(":")[0], cat, ctx.env).enabled
    ]
    with st.spinner("Asking the routers…"):
        try:
            said = listings.refresh(ctx.store, cat, ctx.env, sources=sources)
        except StoreError as exc:
            said = {"store": str(exc)}
    st.session_state["refresh_said"] = said
    st.rerun()
for source, words in (st.session_state.get("refresh_said") or {}).items():
    st.caption(f"{source}: {words}")

# ------------------------------------------------------------------ search and filter
st.subheader("Find a model")
a, b, c, d, e = st.columns([3, 2, 2, 2, 1])
text = a.text_input("Name or endpoint id", key="models_search")
routers = b.multiselect("Router", list(cat.routers), key="models_routers")
tasks = c.multiselect("Task", list(discovery.TASKS), key="models_tasks")
statuses = d.multiselect(
    "Status",
    ["active", "deprecated", "verify", "unverified", "shutdown", "listed, not added"],
    key="models_status",
)
max_usd = e.number_input(
    "Max $",
    min_value=0.0,
    value=None,
    step=0.01,
    key="models_max",
    help="per image (or per MP); models of unknown price are hidden",
)
find = Filter(
    text=text,
    routers=routers,
    tasks=tasks,
    statuses=[s for s in statuses if s != "listed, not added"],
    max_usd=max_usd,
)
show_all = st.toggle("Include shut-down models", key="show_all")


def quoted(router: str, endpoint: str) -> str:
    """The live quote for an endpoint, labelled with its date, or ''."""
    q = index.quote(router, endpoint)
    on = index.quoted_on(router)
    if q is None or on is None:
        return ""
    if q.problem():
        return f"{q.unit_price:g} {q.currency} per {q.unit} (unusable unit), {on}"
    return f"${q.unit_price:g}/{q.kind()} quoted by {router} on {on}"


table = []
for m in cat.models:
    if not show_all and not m.offered(today):
        continue
    if not find.matches(m, cat) or (statuses and not find.statuses):
        continue
    ids = index.listed_ids(m.router)
    shipped = base_usd(m, cat)
    q = index.quote(m.router, m.endpoint)
    differs = bool(
        q
        and q.kind() == m.price.unit
        and shipped is not None
        and abs(q.unit_price - shipped) > 1e-9
        and not m.price.source.startswith("quoted by ")
    )
    table.append(
        {
            "model": m.label,
            "router": m.router,
            "endpoint": m.endpoint,
            "price": price_hint(m, cat),
            "price source": m.price.source,
            "price seen": m.price.seen,
            "live quote": quoted(m.router, m.endpoint),
            "quote differs": "yes: both shown" if differs else "",
            "typical s": m.latency_hint_s,
            "status": m.status,
            "shutdown": m.shutdown,
            "listed by router": "" if ids is None else ("yes" if m.endpoint in ids else "no"),
            "offered": m.offered(today),
            "seed": "yes" if m.seed_supported else "n/a",
        }
    )
known = {m.endpoint for m in cat.models if m.router == "fal"}
not_added = [x for x in index.listed.get("fal", []) if x.endpoint not in known]
if not statuses or "listed, not added" in statuses:
    for x in not_added:
        if text and not all(w in f"{x.name} {x.endpoint}".lower() for w in text.lower().split()):
            continue
        if (
            (routers and "fal" not in routers)
            or (tasks and x.task not in tasks)
            or max_usd is not None
        ):
            continue
        table.append(
            {
                "model": x.name,
                "router": "fal",
                "endpoint": x.endpoint,
                "price": "",
                "price source": "",
                "price seen": None,
                "live quote": quoted("fal", x.endpoint),
                "quote differs": "",
                "typical s": None,
                "status": f"listed, not added ({x.task})",
                "shutdown": None,
                "listed by router": "yes",
                "offered": False,
                "seed": "",
            }
        )
st.caption(f"{len(table)} models shown")
st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")

# ------------------------------------------------------------------ shortlist
st.subheader("Shortlist")
offered = {m.key: m.label for m in cat.offered(today)}
chosen = st.multiselect(
    "Shown first in the picker",
    list(offered),
    default=ctx.shortlist,
    format_func=lambda k: f"{offered[k]} ({k.split(':')[0]})",
    key="models_shortlist",
)
if chosen != ctx.shortlist and st.button("Save shortlist", key="save_shortlist"):
    ctx.store.set_setting(SHORTLIST_SETTING, dump_shortlist(chosen))
    st.rerun()

# ------------------------------------------------------------------ any model by id
st.subheader("Add a fal model by endpoint id")
st.caption(
    f"Or list models in {user_file_path(ctx.settings.data_dir)} in the shipped catalog's schema "
    "([[models]] entries); Kie and OpenAI models go there, as Kie publishes no listing."
)
typed = st.text_input("fal endpoint id", key="add_endpoint", placeholder="fal-ai/flux-2-pro")
if st.button("Add", key="add_model") and typed.strip():
    fal_key = cat.routers["fal"].key(ctx.env)
    where = listings.bases(ctx.env, cat)["fal"]
    try:
        endpoint = check_fal_id(typed)
        if f"fal:{endpoint}" in {m.key for m in cat.models} or endpoint in known:
            raise InputError(f"{endpoint} is already in the catalog")
        with discovery.client() as http:
            listed, spec = discovery.fal_model(http, where, endpoint, key=fal_key)
            quotes = (
                discovery.fal_prices(http, where, fal_key, [endpoint], spec=cat.routers["fal"])
                if fal_key
                else []
            )
        entry = fal_model_entry(listed, spec, quotes[0] if quotes else None, today)
        ctx.store.save_user_model(entry["key"], entry)
    except (InputError, DiscoveryError, StoreError) as exc:
        st.error(str(exc))
    else:
        st.session_state["added_said"] = f"Added {entry['label']}: {entry['price']['source']}."
        st.rerun()
if st.session_state.get("added_said"):
    st.success(st.session_state["added_said"])
added = ctx.store.user_models()
if added:
    gone = st.selectbox(
        "Remove an added model", [x["key"] for x in added], index=None, key="remove_pick"
    )
    if gone and st.button("Remove", key="remove_model"):
        ctx.store.remove_user_model(gone)
        st.rerun()
