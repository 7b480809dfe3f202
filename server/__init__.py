"""``scenario-lab serve``: the HTTP API over the log (FastAPI on uvicorn).

    app = create_app(Settings(db=Path("scenario-lab.db")))

Routes (``server/routes/``) are thin over the application layer (``scenario_lab.app``);
each declares a permission rule (``server/permissions.py``); what a player may see is
the application layer's ``visible_line``/``seat_view``; runs started here play as tasks
(``server/runner.py``); errors become problem+json in ``server/problems.py``.
"""

from server.app import create_app
from server.settings import Settings, is_loopback

__all__ = ["Settings", "create_app", "is_loopback"]
