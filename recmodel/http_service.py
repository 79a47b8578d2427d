"""``fedrec serve``'s HTTP API (FastAPI): a partner site's recommendations for a web shop or a CRM.

Endpoints (OpenAPI docs at ``/docs``, the schema at ``/openapi.json``):

| method and path | answers |
|---|---|
| ``GET /health`` | ``{"status": "ok"}`` once the model is loaded |
| ``GET /model`` | the served model (folder, round, why), users, items, attribute names |
| ``GET /users/{user_id}/recommendations`` | top-k for a customer; an unknown id gets the cold-start path |
| ``POST /recommendations`` | top-k for an ad-hoc history (a session, a new visitor) and optional attributes |
| ``GET /users/{user_id}/buy-again`` | the customer's own past items, most likely to be bought again first |
| ``GET /users/{user_id}/mixed`` | buy-again and new items in the site's repeat share |
| ``GET /items/{item_id}/similar`` | the k most similar items |
| ``GET /audiences?item=X`` or ``?category=C``, ``&size=N`` | the N customers most likely to act on it |
| ``GET /users/{user_id}/profile`` | top interest categories, profile embedding, recency/frequency/spend |

Query parameters of the recommendation endpoints: ``k``, ``exclude`` (repeatable item id), ``keep_seen``,
``category`` (repeatable), ``new_items``. Every answer names ``model_round`` and the ``path`` that answered
(``recmodel.site_recommender``). An unknown user (profile) or item is 404, a bad parameter 422, both with a
one-line ``detail``. Requests are answered one at a time per process (the model is not shared across threads).
"""

from __future__ import annotations

import threading

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from recmodel.data.schema import DataError
from recmodel.site_recommender import SiteRecommender, UnknownId


class HistoryRequest(BaseModel):
    """A visitor the site's file does not hold."""

    items: list[str] = Field(default_factory=list, description="item ids, oldest first (may be empty)")
    attributes: dict[str, str | int | float] = Field(default_factory=dict,
                                                     description="user attribute name -> value, e.g. user_region")
    k: int = Field(10, ge=1)
    exclude: list[str] = Field(default_factory=list)
    keep_seen: bool = False
    categories: list[str] = Field(default_factory=list)
    new_items: bool = False


def create_app(site: SiteRecommender) -> FastAPI:
    """The FastAPI application over one loaded ``SiteRecommender``."""
    info = site.model_info()
    app = FastAPI(title="fedrec site recommendations", version=str(info["model"]["round"]),
                  description=f"Served model: {info['model']['why']}.")
    lock = threading.Lock()

    def answer(call, *args, **kwargs):
        try:
            with lock:
                return call(*args, **kwargs)
        except UnknownId as error:
            raise HTTPException(status_code=404, detail=str(error)) from None
        except DataError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model_round": info["model"]["round"]}

    @app.get("/model")
    def model() -> dict:
        return info

    @app.get("/users/{user_id}/recommendations")
    def user_recommendations(user_id: str, k: int = Query(10, ge=1), exclude: list[str] = Query(default=[]),
                             keep_seen: bool = False, category: list[str] = Query(default=[]),
                             new_items: bool = False) -> dict:
        return answer(site.recommend, user_id, k, exclude=exclude, keep_seen=keep_seen, categories=category,
                      new_items=new_items)

    @app.post("/recommendations")
    def history_recommendations(request: HistoryRequest) -> dict:
        return answer(site.recommend_for_history, request.items, request.k, attributes=request.attributes,
                      exclude=request.exclude, keep_seen=request.keep_seen, categories=request.categories,
                      new_items=request.new_items)

    @app.get("/users/{user_id}/buy-again")
    def buy_again(user_id: str, k: int = Query(10, ge=1)) -> dict:
        return answer(site.buy_again, user_id, k)

    @app.get("/users/{user_id}/mixed")
    def mixed(user_id: str, k: int = Query(10, ge=1)) -> dict:
        return answer(site.mixed, user_id, k)

    @app.get("/items/{item_id}/similar")
    def similar(item_id: str, k: int = Query(10, ge=1)) -> dict:
        return answer(site.similar_items, item_id, k)

    @app.get("/audiences")
    def audience(item: str | None = None, category: str | None = None, size: int = Query(100, ge=1),
                 include_past: bool = False) -> dict:
        return answer(site.audience, item_id=item, category=category, size=size, include_past=include_past)

    @app.get("/users/{user_id}/profile")
    def profile(user_id: str, top: int = Query(3, ge=1)) -> dict:
        return answer(site.profile, user_id, top)

    return app
