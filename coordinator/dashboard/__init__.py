"""The live dashboard the coordinator serves at ``/`` (see ``docs/dashboard.md``).

session   API token -> signed, expiring, HttpOnly cookie; CSRF secret per session
keeper    where the session key lives (the store) and how a request's session is found
series    one chart point a second, from the committed feed
board     what the page shows (``Board``) and the change between two (``BoardDelta``)
hub       fan-out to every open page, a bounded queue each, slow pages dropped
routes    the page, its assets, login/logout, the server-sent events stream
live      ``Dashboard``: the series and the hub of one running service
static/   the page itself: plain HTML, CSS and JavaScript, plus uPlot (charts), vendored
"""
