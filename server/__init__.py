"""``scenario-lab serve``: the HTTP API over the log (FastAPI on uvicorn).

    app = create_app(Settings(db=Path("scenario-lab.db")))

Routes (``server/routes/``) are thin over ``server/lab.py``; each declares a permission
rule (``server/permissions.py``); what a player may see of events is
``engine.visibility.see``; errors become problem+json in ``server/problems.py``.
"""

from server.app import create_app
from server.settings import Settings, is_loopback

__all__ = ["Settings", "create_app", "is_loopback"]
